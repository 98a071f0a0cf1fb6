// env: UV_THREADPOOL_SIZE=1
// Two stats, both finished before the loop polls again (busy-wait): both callbacks run in
// the same poll phase, in completion order, before the immediate started beside them.
'use strict';
const fs = require('fs');
const log = (s) => process.stdout.write(s + '\n');
const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timer');
  fs.stat(__filename, (err) => log('stat A done' + (err ? ' (error)' : '')));
  fs.stat(__dirname, (err) => log('stat B done' + (err ? ' (error)' : '')));
  setImmediate(() => log('immediate'));
  spin(20);
}, 1);
log('main');
