// Several handles closed in one callback: close callbacks run LIFO. Closed in the timers
// phase, they wait for the next close phase (after check); a handle closed from a close
// callback waits one more iteration.
'use strict';
const { TCP, constants } = process.binding('tcp_wrap');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const hs = ['A', 'B', 'C', 'D'].map((n) => [n, new TCP(constants.SOCKET)]);
const e = new TCP(constants.SOCKET);
setTimeout(() => {
  log('timer: close A B C D');
  for (const [n, h] of hs) {
    h.close(() => {
      log('close ' + n);
      if (n === 'D') {
        e.close(() => log('close E (from close D)'));
        setImmediate(() => log('immediate 2 (from close D)'));
      }
    });
  }
  setImmediate(() => log('immediate 1 (from timer)'));
}, 1);
log('main');
