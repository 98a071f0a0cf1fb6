// env: UV_THREADPOOL_SIZE=1
// With one pool thread, file-system requests complete in submission order; one submitted
// from a completion callback completes after those already queued.
'use strict';
const fs = require('fs');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('exit'));

fs.stat(__filename, (err) => {
  log('stat 1 done' + (err ? ' (error)' : ''));
  fs.stat(__dirname, (e) => log('stat 6 (from 1) done' + (e ? ' (error)' : '')));
});
fs.lstat(__dirname, (err) => log('lstat 2 done' + (err ? ' (error)' : '')));
fs.access(__filename, (err) => log('access 3 done' + (err ? ' (error)' : '')));
fs.readdir(__dirname, (err) => log('readdir 4 done' + (err ? ' (error)' : '')));
fs.stat('/nonexistent-evc-conformance', (err) => log('stat 5 done (' + (err ? err.code : 'ok') + ')'));
log('main');
