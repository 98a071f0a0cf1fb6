// An unref'd interval alone does not keep the process alive: the loop never iterates and the
// interval never fires, even though it is due when the loop starts.
'use strict';
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

const spin = (ms) => { const end = process.hrtime.bigint() + BigInt(ms * 1e6); while (process.hrtime.bigint() < end); };
const iv = setInterval(() => log('interval (must not fire)'), 1);
iv.unref();
spin(5);
log('main');
