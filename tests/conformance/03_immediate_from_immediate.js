// An immediate scheduled from an immediate runs in the next check phase, after its siblings.
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

setImmediate(() => {
  log('immediate 1');
  setImmediate(() => {
    log('immediate 1.1');
    setImmediate(() => log('immediate 1.1.1'));
  });
});
setImmediate(() => {
  log('immediate 2');
  setImmediate(() => log('immediate 2.1'));
});
setImmediate(() => log('immediate 3'));
log('main');
