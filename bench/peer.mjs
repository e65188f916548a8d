// A peer for the benchmark's `peers` configurations: an app process that only keeps the serving
// process's copies (its session middleware, never sent a request). BENCH_PEERS, BENCH_SELF and
// BENCH_REPLICATION as the serving process's options; prints {"ready":true} once its peers answer.
import session from '../dist/esm/index.js';

const sessions = session({
  secret: 'bench secret',
  resave: false,
  saveUninitialized: false,
  peers: process.env.BENCH_PEERS,
  self: process.env.BENCH_SELF,
  replication: process.env.BENCH_REPLICATION,
  logger: { info() {}, warn() {}, error() {} },
});
await sessions.ready();
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
// The peer endpoint does not hold the process open (an app's own server does): this does.
setInterval(() => undefined, 60_000);
