// A 1 ms interval repeats until cleared from its own callback; an immediate started from a
// tick runs before the next tick; a timer started at the last tick fires after it.
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

let n = 0;
const iv = setInterval(() => {
  n++;
  log('interval tick ' + n);
  if (n === 3) setImmediate(() => log('immediate (from tick 3)'));
  if (n === 5) {
    clearInterval(iv);
    setTimeout(() => log('timer (from tick 5)'), 0);
  }
}, 1);
log('main');
