// A timer callback starts fs.stat and an immediate, then busy-waits until the stat has surely
// finished: the stat's callback runs in that iteration's poll phase, before the immediate
// (issue 19; a loop that defers completions to the next pending phase prints them swapped).
'use strict';
const fs = require('fs');
const log = (s) => process.stdout.write(s + '\n');
const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timer');
  fs.stat(__filename, (err) => log('stat done' + (err ? ' (error)' : '')));
  setImmediate(() => log('immediate'));
  spin(20);
}, 1);
log('main');
