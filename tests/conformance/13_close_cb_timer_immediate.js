// From a close callback: a timer that is due by the end of the close phase fires in the same
// iteration (timers follow close), before an immediate started next to it.
'use strict';
const { TCP, constants } = process.binding('tcp_wrap');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
const h = new TCP(constants.SOCKET);
setImmediate(() => {
  log('immediate 1: close H');
  h.close(() => {
    log('close H');
    setImmediate(() => log('immediate 2 (from close)'));
    setTimeout(() => log('timer (0 ms, from close)'), 0);
    spin(4);
  });
});
log('main');
