// Timer lateness of node's loop, the oracle's side of `scripts/bench.sh --timers` (see
// timers.c): a setInterval of INTERVAL ms on an otherwise idle process, and for each tick how
// much later than INTERVAL after the previous tick it ran. Prints: p50 p99 max in ms.
// Usage: node timers.js [INTERVAL_MS [TICKS]]
'use strict';
const interval = Number(process.argv[2] || 100);
const ticks = Number(process.argv[3] || 50);
const late = [];
let last = 0n;
const t = setInterval(() => {
  const now = process.hrtime.bigint();
  if (last !== 0n) late.push(Number(now - last) / 1e6 - interval);
  last = now;
  if (late.length === ticks) {
    clearInterval(t);
    late.sort((a, b) => a - b);
    const at = (p) => late[Math.floor((late.length - 1) * p / 100)];
    console.log(`${at(50).toFixed(3)} ${at(99).toFixed(3)} ${late[late.length - 1].toFixed(3)}`);
  }
}, interval);
