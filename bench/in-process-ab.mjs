// Two builds compared with bench/in-process.mjs: one process per run, the builds alternating
// (A B, then B A, …) so that load from other processes on a shared machine weighs on both alike.
// Usage: node bench/in-process-ab.mjs <memcached nodes option> <dist A> <dist B> [rounds, 8]
// The BENCH_IN_PROCESS_* variables (BYTES, SESSIONS, CHECKED, ONLY, ITERATIONS, NONSTICKY,
// NONSTICKY_ITERATIONS, SHAPES) pass through: BENCH_IN_PROCESS_NONSTICKY=1 BENCH_IN_PROCESS_ONLY="msm non-sticky"
// compares unlocked non-sticky reads and writes against real memcached nodes.
// Prints, per shape and middleware, CPU µs per request (a read, or for a non-sticky write row a write) of each build (median of the rounds,
// with the range) and the median of the per-round B/A ratios; then one JSON line of every run.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [nodes, distA, distB, roundsArg] = process.argv.slice(2);
if (!nodes || !distA || !distB) throw new Error('usage: node bench/in-process-ab.mjs <memcached nodes option> <dist A> <dist B> [rounds]');
const ROUNDS = Number(roundsArg ?? 8);
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'in-process.mjs');
const builds = { A: distA, B: distB };

function run(build) {
  const result = spawnSync(process.execPath, [script, nodes], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_IN_PROCESS_DIST: builds[build] },
  });
  if (result.status !== 0) throw new Error(`bench/in-process.mjs (${build}) failed (exit ${result.status ?? result.signal})`);
  return JSON.parse(result.stdout).cpu;
}

const runs = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
  const cpu = {};
  for (const build of order) cpu[build] = run(build);
  runs.push(cpu);
  process.stderr.write(`round ${round + 1} of ${ROUNDS} done\n`);
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
const figure = (values) => `${median(values).toFixed(1)} (${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)})`;
for (const [shape, rows] of Object.entries(runs[0].A)) {
  for (const name of Object.keys(rows)) {
    const a = runs.map((r) => r.A[shape][name]);
    const b = runs.map((r) => r.B[shape][name]);
    const ratio = median(b.map((value, i) => value / a[i]));
    console.log(`${shape.padEnd(9)} ${name.padEnd(45)} A ${figure(a)}  B ${figure(b)}  µs CPU/request; B/A per round: median ${ratio.toFixed(3)}`);
  }
}
console.log(JSON.stringify({ builds, runs }));
