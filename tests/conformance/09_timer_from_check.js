// Timers started from check, due by the end of that check phase: they fire in the same
// iteration's timers phase (after the close phase), before the next iteration's immediates.
'use strict';
const { TCP, constants } = process.binding('tcp_wrap');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
const h = new TCP(constants.SOCKET);
setImmediate(() => {
  log('immediate 1: start timers 1 and 2, close H');
  setTimeout(() => log('timer 1 (from check)'), 0);
  setTimeout(() => log('timer 2 (from check)'), 0);
  h.close(() => log('close H'));
  spin(4); // both timers are due before the timers phase of this iteration
});
setImmediate(() => {
  log('immediate 2 (sibling)');
  setImmediate(() => log('immediate 3 (next check)'));
});
log('main');
