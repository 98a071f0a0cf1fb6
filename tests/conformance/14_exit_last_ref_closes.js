// A listening socket keeps the process alive; when it is closed (the last ref'd handle), the
// process ends after its close callback and what that callback scheduled. A silent unref'd
// interval does not hold it.
'use strict';
const { TCP, constants } = process.binding('tcp_wrap');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const l = new TCP(constants.SERVER);
const addr = {};
if (l.bind('127.0.0.1', 0) !== 0 || l.listen(16) !== 0 || l.getsockname(addr) !== 0) {
  log('listen failed');
  process.exit(1);
}
setInterval(() => {}, 2).unref();
setTimeout(() => {
  log('timer: close listener');
  l.close(() => {
    log('close L');
    setImmediate(() => log('immediate (from close)'));
  });
}, 20);
log('main');
