// One benchmark server: BENCH_CONFIG picks the configuration (bench/configs.mjs), BENCH_PAYLOAD
// the session size. Routes: /init (creates a session), /read (reads it), /write (modifies it);
// /_bench/* (before the session middleware) report CPU time and switch per-stage timing, which
// subscribes to the package's diagnostics_channel trace points as an operator's tool would.
import express from 'express';
import { PerformanceObserver } from 'node:perf_hooks';
import { CONFIGS } from './configs.mjs';
import diagnostics from 'node:diagnostics_channel';

const config = CONFIGS[process.env.BENCH_CONFIG];
if (!config) throw new Error(`unknown BENCH_CONFIG ${process.env.BENCH_CONFIG}`);
const payload = 'x'.repeat(Number(process.env.BENCH_PAYLOAD ?? 200));
const sessions = await config.make({
  memcached: process.env.BENCH_MEMCACHED,
  redis: process.env.BENCH_REDIS,
  peers: process.env.BENCH_PEERS,
  maxLocal: Number(process.env.BENCH_MAX_LOCAL ?? 200_000),
});

// With peers there is no store to ask for its operations: the calls to other peers are counted
// here, on the package's storage trace point (health checks left out: a store's stats have none).
let peerOps = 0;
let peerWrites = 0;
if (config.store === 'peers') {
  diagnostics.tracingChannel('memcached-session-manager:storage').subscribe({
    start: (context) => {
      // Its own store (peer a) answers in-process, with no message.
      if (context.operation === 'instance' || context.node === 'a') return;
      peerOps++;
      if (!context.operation.startsWith('get')) peerWrites++;
    },
    end() {},
    asyncStart() {},
    asyncEnd() {},
    error() {},
  });
}

// Garbage-collection pauses of the main thread, summed: the request path's cost that no stage timer sees.
let gcMillis = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMillis += entry.duration;
}).observe({ entryTypes: ['gc'] });

// Synchronous CPU time per trace point (load, save, storage call), each without the trace points
// nested in it (a load's storage calls count as storage).
const STAGES = ['load', 'save', 'storage'];
const totals = Object.fromEntries(STAGES.map((stage) => [stage, { ms: 0, count: 0 }]));
const open = [];
const subscribers = Object.fromEntries(
  STAGES.map((stage) => [
    stage,
    {
      start: () => open.push({ startedAt: performance.now(), nested: 0 }),
      end: () => {
        const frame = open.pop();
        const ms = performance.now() - frame.startedAt;
        if (open.length > 0) open[open.length - 1].nested += ms;
        totals[stage].ms += ms - frame.nested;
        totals[stage].count++;
      },
    },
  ]),
);
let timing = false;
function setStageTiming(on) {
  if (on === timing) return;
  timing = on;
  for (const stage of STAGES) {
    const channel = diagnostics.tracingChannel(`memcached-session-manager:${stage}`);
    if (on) channel.subscribe(subscribers[stage]);
    else channel.unsubscribe(subscribers[stage]);
  }
  if (on) for (const total of Object.values(totals)) Object.assign(total, { ms: 0, count: 0 });
}
const stageTotals = () => structuredClone(totals);

const app = express();
app.get('/_bench/cpu', (_req, res) => {
  const { user, system } = process.cpuUsage();
  res.json({ cpuMicros: user + system, gcMicros: gcMillis * 1000, stages: stageTotals(), peerOps, peerWrites });
});
app.get('/_bench/stages', (req, res) => {
  setStageTiming(req.query.on === '1');
  res.end('ok');
});
app.get('/_bench/heap', (_req, res) => {
  globalThis.gc?.();
  res.json({ heapUsed: process.memoryUsage().heapUsed, local: sessions?.statistics?.().gauges.localSessions ?? null });
});
if (sessions) app.use(sessions);
let logins = 0;
app.get('/init', (req, res) => {
  if (req.session) {
    // A configuration with `logins` logs each session in as its own user (passport's shape), so
    // each save that changes it records the user's index: what a user's sessions cost.
    if (config.logins) req.session.passport = { user: `user${logins++}` };
    req.session.user = 'bench';
    req.session.data = payload;
    req.session.n = 0;
  }
  res.end('ok');
});
app.get('/read', (req, res) => res.end(req.session ? String(req.session.n) : 'none'));
app.get('/write', (req, res) => {
  if (req.session) req.session.n = (req.session.n ?? 0) + 1;
  res.end('ok');
});
// A peers server takes requests once it sees its peers up (before, a change would have no copy).
for (let i = 0; config.store === 'peers' && i < 200 && !Object.values(sessions.nodes()).every(Boolean); i++) await new Promise((r) => setTimeout(r, 50));
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
server.keepAliveTimeout = 60_000;
process.on('SIGINT', () => process.exit(0)); // lets --cpu-prof write its profile
