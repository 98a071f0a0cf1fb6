// Two connected sockets (net), destroyed in one immediate: their 'close' events come from the
// close phase, LIFO, before the next iteration's immediates.
'use strict';
const net = require('net');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const server = net.createServer();
let client = null, peer = null, ready = 0;
function go() {
  if (++ready !== 2) return; // both ends connected, in whatever order they reported it
  server.close(); // its callback comes from process.nextTick, not the close phase: not traced
  setImmediate(() => {
    log('immediate 1: destroy client, then peer');
    client.on('close', () => log('close client'));
    peer.on('close', () => log('close peer'));
    client.destroy();
    peer.destroy();
    setImmediate(() => log('immediate 2 (next check)'));
  });
}
server.on('connection', (sock) => { peer = sock; go(); });
server.listen(0, '127.0.0.1', () => {
  client = net.connect(server.address().port, '127.0.0.1', go);
});
log('main');
