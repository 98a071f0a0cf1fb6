// In an I/O callback (poll phase: a socket's data), a 0 ms timer that is already due
// (busy-wait) and an immediate: the immediate still runs first (check comes before timers).
'use strict';
const net = require('net');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
const server = net.createServer((peer) => {
  peer.on('data', (buf) => {
    log('data: ' + buf.toString());
    server.close(); // close events of the server and sockets are not traced
    peer.destroy();
    client.destroy();
    setTimeout(() => log('timer (0 ms, from data)'), 0);
    spin(4);
    setImmediate(() => log('immediate (from data)'));
  });
});
let client = null;
server.listen(0, '127.0.0.1', () => {
  client = net.connect(server.address().port, '127.0.0.1', () => client.write('x'));
});
log('main');
