// A handle closed in check: its close callback runs in the same iteration's close phase,
// after the sibling immediates and before the next iteration's immediates.
'use strict';
const { TCP, constants } = process.binding('tcp_wrap');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const h = new TCP(constants.SOCKET);
setImmediate(() => {
  log('immediate 1: close H');
  h.close(() => {
    log('close H');
    setImmediate(() => log('immediate 3 (from close)'));
  });
  setImmediate(() => log('immediate 2 (from immediate 1)'));
});
setImmediate(() => log('immediate 1b (sibling)'));
log('main');
