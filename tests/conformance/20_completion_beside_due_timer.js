// env: UV_THREADPOOL_SIZE=1
// A completion ready beside a due timer. At start: the timer runs before the first
// iteration, the completion in its poll. Inside the loop: an immediate starts a stat and
// busy-waits; a timer due in that iteration's timers phase starts another immediate: the
// stat's callback (next poll) comes before it (next check).
'use strict';
const fs = require('fs');
const log = (s) => process.stdout.write(s + '\n');
const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
process.on('exit', () => log('exit'));

fs.stat(__filename, (err) => {
  log('stat A done' + (err ? ' (error)' : ''));
  setTimeout(() => {
    log('timer 2 (from A)');
    setImmediate(() => log('immediate 2 (from timer 2)'));
  }, 1);
  setImmediate(() => {
    log('immediate 1 (from A)');
    fs.stat(__dirname, (e) => log('stat B (from immediate 1) done' + (e ? ' (error)' : '')));
    spin(20);
  });
});
setTimeout(() => log('timer 1'), 1);
spin(20);
log('main');
