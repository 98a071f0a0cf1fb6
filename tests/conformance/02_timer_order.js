// Timers started together: shorter delays first; equal delays in start order.
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

setTimeout(() => log('timer 5a'), 5);
setTimeout(() => log('timer 1a'), 1);
setTimeout(() => log('timer 12'), 12);
setTimeout(() => log('timer 5b'), 5);
setTimeout(() => log('timer 1b'), 1);
setTimeout(() => log('timer 5c'), 5);
setTimeout(() => log('timer 0 (1 ms)'), 0);
setTimeout(() => log('timer 1c'), 1);
log('main');
