// A 0 ms timer started inside a timer callback runs in the next timers phase: after the due
// sibling timer and after an immediate started next to it.
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timer A1');
  setTimeout(() => log('timer B (0 ms, from A1)'), 0);
  setImmediate(() => log('immediate (from A1)'));
}, 1);
setTimeout(() => log('timer A2'), 1);
log('main');
