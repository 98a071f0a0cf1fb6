// A 0 ms timer started inside a timer callback runs in the next timers phase: after the due
// sibling timer and after an immediate started next to it, even when it is due before the
// timers phase ends (A1 busy-waits): the phase runs only what was due when it began.
'use strict';
const log = (s) => process.stdout.write(s + '\n');
const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timer A1');
  setTimeout(() => log('timer B (0 ms, from A1)'), 0);
  setImmediate(() => log('immediate (from A1)'));
  spin(4);
}, 1);
setTimeout(() => log('timer A2'), 1);
log('main');
