// A timer cleared by an earlier timer of the same timers phase, while both are due, does not
// fire (same delay and longer delay).
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
let b = null, c = null, iv = null;
setTimeout(() => {
  log('timer A: clear B, C and interval I');
  clearTimeout(b);
  clearTimeout(c);
  clearInterval(iv);
}, 5);
b = setTimeout(() => log('timer B (must not fire)'), 5);
c = setTimeout(() => log('timer C (must not fire)'), 6);
iv = setInterval(() => log('interval I (must not fire)'), 7);
setTimeout(() => log('timer D'), 30);
spin(10); // A, B, C and I are all due at the first timers run
log('main');
