// env: UV_THREADPOOL_SIZE=1
// A completion callback starts another stat, an immediate and a 0 ms timer, and busy-waits
// until that stat has finished too: it waits for the next poll (the completions were taken
// before it finished), after the immediate and the due timer of this iteration.
'use strict';
const fs = require('fs');
const log = (s) => process.stdout.write(s + '\n');
const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timer');
  fs.stat(__filename, (err) => {
    log('stat A done' + (err ? ' (error)' : ''));
    fs.stat(__dirname, (e) => log('stat B (from A) done' + (e ? ' (error)' : '')));
    setImmediate(() => log('immediate (from A)'));
    setTimeout(() => log('timer (0 ms, from A)'), 0);
    spin(20);
  });
  spin(20);
}, 1);
log('main');
