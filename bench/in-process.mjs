// The middleware's own CPU cost per request, without sockets or a load generator: requests are
// built as Node's http server builds them (IncomingMessage/ServerResponse), and for the Express
// figures as Express then changes them (its prototypes swapped in, the properties it adds), and
// run through a middleware and a route that reads the session, in a loop; garbage collection
// included. Far steadier than req/s on a shared machine. Express matters: once it has swapped a
// request's prototypes, V8 gives every property added to the request or response a new hidden
// class, so the properties the express-session API adds cost far more there than on node:http.
// Usage: node bench/in-process.mjs <memcached nodes option> → one JSON line: µs per read request
// by shape and middleware (median loop, wall clock), and the same as process CPU time under `cpu`
// (BENCH_IN_PROCESS_ONLY=<name prefix> measures one middleware, e.g. under --cpu-prof;
// BENCH_IN_PROCESS_DIST=<a build's dist folder> measures that build instead of this checkout's,
// so one script runs against two builds in separate processes: see bench/in-process-ab.mjs;
// BENCH_IN_PROCESS_HEAP=1 with node --expose-gc reports the heap once the sessions are created;
// BENCH_IN_PROCESS_NONSTICKY=1 adds non-sticky, unlocked (lockingMode 'none') reads and writes,
// CONCURRENCY in flight, each a memcached round trip: BENCH_IN_PROCESS_NONSTICKY_ITERATIONS of
// them per repeat, 8000 by default; BENCH_IN_PROCESS_SHAPES=node:http (or express) measures one shape).
import http from 'node:http';
import net from 'node:net';
import express from 'express';
import { apiFloor } from './api-floor.mjs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { default: session } = process.env.BENCH_IN_PROCESS_DIST
  ? await import(pathToFileURL(path.resolve(process.env.BENCH_IN_PROCESS_DIST, 'esm/index.js')).href)
  : await import('../dist/esm/index.js');

const [nodes] = process.argv.slice(2);
const ITERATIONS = Number(process.env.BENCH_IN_PROCESS_ITERATIONS ?? 40_000);
const REPEATS = 5;
// BENCH_IN_PROCESS_BYTES: the size of the session's string attribute (200 by default; the bench's large sessions are 20000).
const BYTES = Number(process.env.BENCH_IN_PROCESS_BYTES ?? 200);
// BENCH_IN_PROCESS_SESSIONS: sessions created and read in turn (2000 by default; bench/run.mjs holds 10000).
const SESSIONS = Number(process.env.BENCH_IN_PROCESS_SESSIONS ?? 2000);
const quiet = { info() {}, warn() {}, error() {} };
const common = { secret: 'bench secret', resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } };
const MIDDLEWARES = {
  'no middleware': () => (_req, _res, next) => next(),
  'api floor': () => apiFloor(),
  // A long interval: the revocation check's token read is a network round trip, not this loop's subject.
  'msm sticky (revocationCheckInterval 60000)': () => session({ ...common, memcachedNodes: nodes, revocationCheckInterval: 60_000, logger: quiet }),
};
// BENCH_IN_PROCESS_CHECKED=1: sticky mode as configured by default too (bench/configs.mjs 'msm sticky'):
// every read waits for its revocation check (a token get per node), so reads complete later;
// CONCURRENCY of them are kept in flight, as the bench's connections would.
const CHECKED = 'msm sticky (revocation check per request)';
// BENCH_IN_PROCESS_CONCURRENCY: requests in flight (32 by default; bench/run.mjs's load has 10 connections).
const CONCURRENCY = Number(process.env.BENCH_IN_PROCESS_CONCURRENCY ?? 32);
if (process.env.BENCH_IN_PROCESS_CHECKED === '1') {
  MIDDLEWARES[CHECKED] = () => session({ ...common, memcachedNodes: nodes, logger: quiet });
}

// Non-sticky, unlocked: every request loads the session from memcached (reads and writes alike),
// and a write stores it back before its response ends. The route names the request kind.
const NONSTICKY_READ = 'msm non-sticky (locking none) read';
const NONSTICKY_WRITE = 'msm non-sticky (locking none) write';
const NONSTICKY = new Set([NONSTICKY_READ, NONSTICKY_WRITE]);
const NONSTICKY_ITERATIONS = Number(process.env.BENCH_IN_PROCESS_NONSTICKY_ITERATIONS ?? 8000);
if (process.env.BENCH_IN_PROCESS_NONSTICKY === '1') {
  const make = () => session({ ...common, memcachedNodes: nodes, sticky: false, lockingMode: 'none', logger: quiet });
  MIDDLEWARES[NONSTICKY_READ] = make;
  MIDDLEWARES[NONSTICKY_WRITE] = make;
}

// BENCH_BASELINE=<another build's dist/esm/index.js>: that build's sticky row too, as in run.mjs.
if (process.env.BENCH_BASELINE) {
  const { default: baseline } = await import(pathToFileURL(process.env.BENCH_BASELINE).href);
  MIDDLEWARES['baseline: msm sticky (revocationCheckInterval 60000)'] = () => baseline({ ...common, memcachedNodes: nodes, revocationCheckInterval: 60_000, logger: quiet });
}

const app = express();
const socket = new net.Socket();
/** Runs one request through `middleware` and `route`; returns whether it completed synchronously. */
function request(middleware, cookie, url, route, asExpress, onDone, onEnded) {
  const req = new http.IncomingMessage(socket);
  req.headers = cookie ? { host: 'bench', cookie } : { host: 'bench' };
  req.url = url;
  req.method = 'GET';
  const res = new http.ServerResponse(req);
  if (asExpress) {
    // What Express's init middleware and router do before an application middleware runs.
    req.res = res;
    res.req = req;
    req.next = () => {};
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    res.locals = Object.create(null);
    req.baseUrl = '';
    req.originalUrl = url;
    req.query = {};
  }
  let done = false;
  if (onEnded) {
    // An own `end` that the middleware's hook wraps: called once the response really ends (after
    // a non-sticky write has stored the session). Without a socket, Node never emits the
    // response's 'finish' and 'close': emitted here as a socket's flush would, for non-sticky
    // mode releases the request's hold on the session then (else the next request of the same
    // session would reuse the copy this one loaded instead of reading memcached).
    const end = res.end;
    res.end = function (...args) {
      const result = end.apply(this, args);
      process.nextTick(() => {
        res.emit('finish');
        res.emit('close');
        onEnded();
      });
      return result;
    };
  }
  middleware(req, res, () => {
    if (asExpress) req.params = {};
    route(req, res);
    done = true;
    onDone?.();
  });
  return { res, done };
}
const init = (req, res) => {
  if (req.session) Object.assign(req.session, { user: 'bench', data: 'x'.repeat(BYTES), n: 0 });
  res.end('ok');
};
const read = (req, res) => res.end(req.session ? String(req.session.n) : 'none');
// Non-sticky requests that found no stored session (the bench would then measure the wrong path).
let lost = 0;
const nonStickyRead = (req, res) => {
  if (req.session?.user !== 'bench') lost++;
  res.end(req.session ? String(req.session.n) : 'none');
};
const write = (req, res) => {
  if (req.session?.user !== 'bench') lost++;
  if (req.session) req.session.n = (req.session.n ?? 0) + 1;
  res.end('ok');
};
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** ITERATIONS reads, CONCURRENCY at a time, each started when one completes. */
async function readsInFlight(middleware, cookies, asExpress) {
  let next = 0;
  const worker = async () => {
    while (next < ITERATIONS) {
      const cookie = cookies[next++ % cookies.length];
      await new Promise((resolve) => request(middleware, cookie, '/read', read, asExpress, resolve));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** `iterations` requests to `route`, CONCURRENCY at a time, each done once its response has ended. */
async function endedInFlight(middleware, cookies, asExpress, route, url, iterations) {
  let next = 0;
  const worker = async () => {
    while (next < iterations) {
      const cookie = cookies[next++ % cookies.length];
      await new Promise((resolve) => request(middleware, cookie, url, route, asExpress, undefined, resolve));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const results = { express: {}, 'node:http': {} };
// The process's CPU time (user + system, GC threads included) per request: steadier than wall
// time when other processes share the cores.
const cpu = { express: {}, 'node:http': {} };
for (const [name, make] of Object.entries(MIDDLEWARES)) {
  if (process.env.BENCH_IN_PROCESS_ONLY && !name.startsWith(process.env.BENCH_IN_PROCESS_ONLY)) continue;
  const middleware = make();
  const cookies = [];
  for (let i = 0; i < (name === 'no middleware' ? 1 : SESSIONS); i++) {
    let ended;
    const stored = new Promise((resolve) => (ended = resolve));
    const { res } = request(middleware, '', '/init', init, false, undefined, NONSTICKY.has(name) ? ended : undefined);
    if (NONSTICKY.has(name)) await stored;
    else await tick();
    const header = res.getHeader('set-cookie');
    const cookie = Array.isArray(header) ? header[0] : header;
    cookies.push(cookie ? String(cookie).split(';')[0] : '');
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (process.env.BENCH_IN_PROCESS_HEAP === '1' && globalThis.gc) {
    globalThis.gc();
    const { heapUsed, external } = process.memoryUsage();
    process.stderr.write(`${name}: ${cookies.length} sessions held, heap ${(heapUsed / 2 ** 20).toFixed(1)} MiB, external ${(external / 2 ** 20).toFixed(1)} MiB\n`);
  }
  for (const shape of Object.keys(results)) {
    if (process.env.BENCH_IN_PROCESS_SHAPES && !process.env.BENCH_IN_PROCESS_SHAPES.split(',').includes(shape)) continue;
    const asExpress = shape === 'express';
    const nonSticky = NONSTICKY.has(name);
    const route = name === NONSTICKY_WRITE ? write : nonStickyRead;
    const url = name === NONSTICKY_WRITE ? '/write' : '/read';
    const iterations = nonSticky ? NONSTICKY_ITERATIONS : ITERATIONS;
    // Warm-up: every session read (non-sticky: the measured request, at least once per session
    // and as many as a repeat has: the first thousands of requests after the sessions were
    // created cost a third more, until the JIT and the young generation have settled).
    if (nonSticky) await endedInFlight(middleware, cookies, asExpress, route, url, Math.max(cookies.length, iterations));
    else for (const cookie of cookies) request(middleware, cookie, '/read', read, asExpress);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const runs = [];
    const cpuRuns = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      let notSync = 0;
      const started = process.hrtime.bigint();
      const cpuStarted = process.cpuUsage();
      if (name === CHECKED) await readsInFlight(middleware, cookies, asExpress);
      else if (nonSticky) await endedInFlight(middleware, cookies, asExpress, route, url, iterations);
      else for (let i = 0; i < ITERATIONS; i++) if (!request(middleware, cookies[i % cookies.length], '/read', read, asExpress).done) notSync++;
      runs.push(Number(process.hrtime.bigint() - started) / 1e3 / iterations);
      const used = process.cpuUsage(cpuStarted);
      cpuRuns.push((used.user + used.system) / iterations);
      if (lost) throw new Error(`${name}: ${lost} requests found no stored session`);
      if (notSync) throw new Error(`${name}: ${notSync} reads did not complete synchronously`);
      await tick();
    }
    results[shape][name] = runs.sort((a, b) => a - b)[Math.floor(REPEATS / 2)];
    cpu[shape][name] = cpuRuns.sort((a, b) => a - b)[Math.floor(REPEATS / 2)];
  }
  await middleware.close?.();
}
process.stdout.write(JSON.stringify({ ...results, cpu }) + '\n');
process.exit(0);
