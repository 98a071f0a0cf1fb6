// Inside a file-completion callback, an immediate and a 0 ms timer: the immediate runs first
// (check comes before timers). Twice: after fs.stat, and after fs.readFile with the timer
// already due (busy-wait) before the immediate is even started.
'use strict';
const fs = require('fs');
const log = (s) => process.stdout.write(s + '\n');
const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
process.on('exit', () => log('exit'));

fs.stat(__filename, (err) => {
  log('stat done' + (err ? ' (error)' : ''));
  setTimeout(() => {
    log('timer A (0 ms, from stat)');
    fs.readFile(__filename, (err2) => {
      log('readFile done' + (err2 ? ' (error)' : ''));
      setTimeout(() => log('timer B (0 ms, from readFile)'), 0);
      spin(4);
      setImmediate(() => log('immediate 2 (from readFile)'));
    });
  }, 0);
  setImmediate(() => log('immediate 1 (from stat)'));
});
log('main');
