// An unref'd interval next to a ref'd timer fires while the timer is pending; once the timer
// has fired, nothing ref'd is left and the process ends (the interval does not hold it).
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

let ticks = 0;
const iv = setInterval(() => {
  ticks++;
  if (ticks <= 3) log('interval tick ' + ticks);
}, 5);
iv.unref();
setTimeout(() => log('timer T (ref\'d) done, interval ticked ' + (ticks >= 3 ? 'at least 3' : 'fewer than 3') + ' times'), 150);
log('main');
