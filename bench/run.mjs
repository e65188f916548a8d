// npm run bench: every configuration (bench/configs.mjs) against the same workloads in one run on
// this machine. The server runs pinned to CPU 0 and the load generator (autocannon, its own process)
// to CPU 1; memcached and redis are not pinned. Every configuration's server is started first, then
// the runs go in rounds (each round runs every configuration and workload once, after an
// unmeasured warm-up run of each server), and each row reports the median round: a moment when
// the host is slow hits one round of every row rather than all rounds of one row. Per run it
// records the server's CPU time per request and the store operations per request; for this
// package's configurations a last, shorter run with stage timing on shows where that CPU time
// goes, and bench/in-process.mjs measures the middleware's own cost without sockets. Results:
// bench/results/latest.md, latest.svg, latest.json, the full tables in docs/performance.md and a
// short table in the README (bench/report-files.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chart } from './chart.mjs';
import { README_NODE_MAJOR, replaceBetweenMarkers, summaryTable, SUMMARY_CONFIG_NAMES } from './report-files.mjs';
import { CONFIGS as CONFIG_TABLE } from './configs.mjs';
import { ensureSystemPackages, onPath } from '../scripts/system-deps.mjs';
import { freePort } from './free-port.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP_SECONDS = 1;
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const MEMORY_SESSIONS = Number(process.env.BENCH_MEMORY_SESSIONS ?? 100_000);
const STAGE_SECONDS = Number(process.env.BENCH_STAGE_SECONDS ?? 2);
const CONNECTIONS = 10;
// BENCH_CONFIGS=name,name runs a subset (for quick checks while developing; goals need them all).
// BENCH_SUMMARY=1 (npm run bench:summary) runs only the README summary's rows and plain Express,
// read- and write-heavy, and writes that table into docs/performance.md under this Node version:
// how the summary looks on the LTS lines in maintenance.
const SUMMARY = process.env.BENCH_SUMMARY === '1';
const CONFIGS = SUMMARY ? ['express', ...SUMMARY_CONFIG_NAMES] : process.env.BENCH_CONFIGS ? process.env.BENCH_CONFIGS.split(',') : Object.keys(CONFIG_TABLE);
const WRITE_RATIO = { 'read-heavy': 0.05, 'write-heavy': 0.5, 'read-only': 0, 'write-only': 1 };
const WORKLOADS = ['read-heavy', 'write-heavy'];
const PAYLOADS = [
  { name: 'small', bytes: 200 },
  { name: 'large', bytes: 20_000 },
];
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status === 0;
const pinned = (cpu, command, args) => (hasTaskset ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args]);

function textStats(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (c) => {
      data += c;
      if (data.endsWith('END\r\n')) {
        socket.end();
        const stats = {};
        for (const line of data.split('\r\n')) {
          const [tag, name, value] = line.split(' ');
          if (tag === 'STAT') stats[name] = Number(value);
        }
        resolve(stats);
      }
    });
    socket.on('error', reject);
    socket.write('stats\r\n');
  });
}

/** Store operations so far: every memcached command (a get-and-touch counts once, as a touch) and redis command. */
async function storeOps(memcachedPorts, redisPort) {
  const ops = { total: 0, writes: 0 };
  for (const port of memcachedPorts) {
    const s = await textStats(port);
    ops.total += s.cmd_get + s.cmd_set + s.cmd_touch + s.delete_hits + s.delete_misses;
    ops.writes += s.cmd_set;
  }
  if (redisPort) ops.total += await redisCommands(redisPort);
  return ops;
}

/** redis's total_commands_processed (raw RESP, no client needed). */
function redisCommands(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (c) => {
      data += c;
      const match = /total_commands_processed:(\d+)/.exec(data);
      if (match && data.endsWith('\r\n') && data.length > 200) {
        socket.end();
        resolve(Number(match[1]) - 1); // not counting this INFO
      }
    });
    socket.on('error', reject);
    socket.write('INFO stats\r\n');
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let t = 0; t < 100; t++) {
    if (await redisCommands(port).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child, url: `redis://127.0.0.1:${port}` };
}

async function startMemcached(count) {
  const binary = onPath('memcached');
  if (!binary) console.warn('NOTICE: no memcached binary on PATH: benchmarking against the EMBEDDED server, which is not representative.');
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const args = binary
      ? ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '4096', '-c', '4096', ...(process.getuid?.() === 0 ? ['-u', 'root'] : [])]
      : [path.join(here, '../dist/esm/embedded-memcached/cli.js'), '--port', String(port), '--memory-mb', '4096'];
    const child = spawn(binary ? 'memcached' : process.execPath, args, { stdio: 'ignore' });
    for (let t = 0; t < 100; t++) {
      if (await textStats(port).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    nodes.push({ port, child });
  }
  return { nodes, provider: binary ? 'memcached binary' : 'embedded server', option: nodes.map((n, i) => `n${i + 1}:127.0.0.1:${n.port}`).join(',') };
}

async function startServer(config, payload, extraEnv = {}, nodeArgs = []) {
  const peers = CONFIG_TABLE[config].store === 'peers' ? await startPeers(CONFIG_TABLE[config].replication) : undefined;
  const [command, args] = pinned(0, process.execPath, [...nodeArgs, path.join(here, 'server.mjs')]);
  const child = spawn(command, args, {
    env: { ...process.env, BENCH_CONFIG: config, BENCH_PAYLOAD: String(payload), BENCH_MEMCACHED: memcached.option, BENCH_REDIS: redis.url, BENCH_PEERS: peers?.option, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  return {
    url: `http://127.0.0.1:${JSON.parse(line).port}`,
    stop: () => {
      child.kill('SIGKILL');
      peers?.stop();
    },
  };
}

/** Peers b and c of a `peers` configuration (bench/peer.mjs, unpinned like the stores); the server is peer a. */
async function startPeers(replication) {
  const ports = [await freePort(), await freePort(), await freePort()];
  const option = ports.map((port, i) => `${'abc'[i]}:127.0.0.1:${port}`).join(',');
  const children = ['b', 'c'].map((self) =>
    spawn(process.execPath, [path.join(here, 'peer.mjs')], { env: { ...process.env, BENCH_PEERS: option, BENCH_SELF: self, BENCH_REPLICATION: replication }, stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  return { option, stop: () => children.forEach((child) => child.kill('SIGKILL')) };
}

/** Creates `count` sessions (concurrently) and returns their cookies. */
async function createSessions(url, count) {
  const cookies = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const response = await fetch(`${url}/init`);
      await response.text();
      const cookie = response.headers.getSetCookie()[0];
      if (cookie) cookies.push(cookie.split(';')[0]);
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return cookies;
}

/**
 * Reads every session once, concurrently: the runs then measure sessions in use, not each one's
 * first request (in sticky mode, the first revocation check of an id asks for its tombstone).
 */
async function readEachOnce(url, cookies) {
  let next = 0;
  const worker = async () => {
    while (next < cookies.length) {
      const cookie = cookies[next++];
      await (await fetch(`${url}/read`, { headers: { cookie } })).text();
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
}

function runLoad(url, cookiesFile, write, seconds) {
  const [command, args] = pinned(1, process.execPath, [path.join(here, 'load.mjs'), url, cookiesFile, String(write), String(seconds), String(CONNECTIONS)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line))));
}

async function heap(url) {
  return (await fetch(`${url}/_bench/heap`)).json();
}

async function serverCpu(url) {
  return (await fetch(`${url}/_bench/cpu`)).json();
}

async function memoryBenchmark() {
  const out = {};
  for (const [label, maxLocal] of [['unbounded', MEMORY_SESSIONS * 2], ['bounded', MEMORY_SESSIONS / 2]]) {
    const server = await startServer('msm sticky', 200, { BENCH_MAX_LOCAL: String(maxLocal) }, ['--expose-gc']);
    const before = await heap(server.url);
    await createSessions(server.url, MEMORY_SESSIONS / 2);
    const half = await heap(server.url);
    await createSessions(server.url, MEMORY_SESSIONS / 2);
    const full = await heap(server.url);
    server.stop();
    out[label] = { maxLocal, before: before.heapUsed, half: half.heapUsed, full: full.heapUsed, local: full.local, perSession: (full.heapUsed - before.heapUsed) / full.local };
  }
  return out;
}

ensureSystemPackages({
  packages: { memcached: () => onPath('memcached'), 'redis-server': () => onPath('redis-server') },
  usedBy: 'the benchmark',
});
const memcached = await startMemcached(2);
const redis = await startRedis();
const ports = memcached.nodes.map((n) => n.port);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
console.log(`machine: ${machine}`);
console.log(hasTaskset ? 'server pinned to CPU 0, load generator (autocannon) to CPU 1; memcached and redis unpinned' : 'taskset not found: processes are not pinned');
console.log(`memcached: 2 nodes (${memcached.provider}); redis: 1 node; ${SESSIONS} sessions per configuration; ${SECONDS} s per run, ${CONNECTIONS} connections\n`);

const rows = [];
const stageRows = [];
const isMsm = (config) => config.startsWith('msm ');
const workloadsOf = (config) => (SUMMARY ? WORKLOADS : [...WORKLOADS, ...(CONFIG_TABLE[config].workloads ?? [])]);
/** The middle item by `key` (the lower middle of an even count). */
const middleBy = (items, key) => [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
const median = (values) => middleBy(values, (v) => v);
const servers = [];

function stopServer(server) {
  server.stop();
  if (server.cookiesFile) rmSync(server.cookiesFile, { force: true });
}

/** One measured run of `workload` against a started server. */
async function measure(server, workload, seconds) {
  const { store } = CONFIG_TABLE[server.config];
  const redisPort = store === 'redis' ? redis.port : undefined;
  // A peers server counts its own calls to the other peers (bench/server.mjs).
  const opsOf = async (cpu) => (store === 'peers' ? { total: cpu.peerOps, writes: cpu.peerWrites } : storeOps(ports, redisPort));
  const cpu = await serverCpu(server.url);
  const ops = await opsOf(cpu);
  const result = await runLoad(server.url, server.cookiesFile, WRITE_RATIO[workload], seconds);
  const cpuAfter = await serverCpu(server.url);
  const opsAfter = await opsOf(cpuAfter);
  const requests = Math.max(1, result.requests);
  return {
    ...result,
    cpuPerRequest: (cpuAfter.cpuMicros - cpu.cpuMicros) / requests,
    gcPerRequest: (cpuAfter.gcMicros - cpu.gcMicros) / requests,
    opsPerRequest: (opsAfter.total - ops.total) / requests,
    writesPerRequest: (opsAfter.writes - ops.writes) / requests,
  };
}

try {
  for (const payload of PAYLOADS) {
    // Every configuration's server, with its sessions created and read once, before any run.
    for (const config of CONFIGS) {
      const server = { config, ...(await startServer(config, payload.bytes)) };
      const cookies = config === 'express' ? [''] : await createSessions(server.url, SESSIONS);
      if (config !== 'express') await readEachOnce(server.url, cookies);
      server.cookiesFile = path.join(tmpdir(), `msm-bench-cookies-${process.pid}-${servers.length}.json`);
      writeFileSync(server.cookiesFile, JSON.stringify(cookies));
      servers.push(server);
    }
    const samples = new Map(servers.flatMap((s) => workloadsOf(s.config).map((w) => [`${s.config}|${w}`, []])));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of servers) {
        // Unmeasured first: a server left idle while the others ran starts slower (V8 shrinks an
        // idle heap's young generation, and the caches are cold), which would weigh on its first row.
        await runLoad(server.url, server.cookiesFile, WRITE_RATIO['read-heavy'], WARMUP_SECONDS);
        for (const workload of workloadsOf(server.config)) samples.get(`${server.config}|${workload}`).push(await measure(server, workload, SECONDS));
      }
      console.log(`${payload.name}: round ${round} of ${ROUNDS} done`);
    }
    // Each row: the median round; "× Express" is the median of its per-round ratios to plain Express.
    const express = samples.get('express|read-heavy');
    for (const server of servers) {
      for (const workload of workloadsOf(server.config)) {
        const runs = samples.get(`${server.config}|${workload}`);
        const middle = middleBy(runs, (r) => r.rps);
        const row = {
          payload: payload.name,
          workload,
          config: server.config,
          ...middle,
          rounds: runs.map((r) => Math.round(r.rps)),
          roundRps: runs.map((r) => r.rps),
          roundCpu: runs.map((r) => r.cpuPerRequest),
          timesExpress: express ? median(runs.map((r, i) => r.rps / express[i].rps)) : NaN,
          cpuPerRequest: median(runs.map((r) => r.cpuPerRequest)),
          roundGc: runs.map((r) => r.gcPerRequest),
          gcPerRequest: median(runs.map((r) => r.gcPerRequest)),
          opsPerRequest: runs.reduce((sum, r) => sum + r.opsPerRequest, 0) / runs.length,
          writesPerRequest: runs.reduce((sum, r) => sum + r.writesPerRequest, 0) / runs.length,
        };
        rows.push(row);
        console.log(`${payload.name.padEnd(5)} ${workload.padEnd(11)} ${server.config.padEnd(41)} ${row.rps.toFixed(0).padStart(6)} req/s (rounds ${row.rounds.join(', ')})  ${row.timesExpress.toFixed(2)}× Express  p50 ${row.p50} ms  p99 ${row.p99} ms  CPU ${row.cpuPerRequest.toFixed(0)} µs/req (GC pauses ${row.gcPerRequest.toFixed(0)})  store ops/req ${row.opsPerRequest.toFixed(2)}${row.errors || row.non2xx ? `  errors ${row.errors} non-2xx ${row.non2xx}` : ''}`);
        if (!isMsm(server.config) || SUMMARY) continue;
        // Where the CPU goes: a shorter run with stage timing on (it costs a little itself, so not in the figures above).
        await fetch(`${server.url}/_bench/stages?on=1`);
        const timed = await runLoad(server.url, server.cookiesFile, WRITE_RATIO[workload], STAGE_SECONDS);
        const { stages } = await serverCpu(server.url);
        await fetch(`${server.url}/_bench/stages?on=0`);
        const perRequest = Object.fromEntries(Object.entries(stages).map(([stage, t]) => [stage, (t.ms * 1000) / Math.max(1, timed.requests)]));
        stageRows.push({ payload: payload.name, workload, config: server.config, stages: perRequest });
      }
    }
    for (const server of servers.splice(0)) stopServer(server);
  }
  if (!SUMMARY) {
    // The middleware's own cost, without sockets (bench/in-process.mjs), on the server's CPU.
    const [inCommand, inArgs] = pinned(0, process.execPath, [path.join(here, 'in-process.mjs'), memcached.option]);
    const inProcessRun = spawnSync(inCommand, inArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (inProcessRun.status !== 0) throw new Error(`bench/in-process.mjs failed (exit ${inProcessRun.status ?? inProcessRun.signal})`);
    var inProcess = JSON.parse(inProcessRun.stdout);
    console.log('\nin-process µs per read request:', JSON.stringify(inProcess));
    console.log('\nmemory (msm sticky, heap used after GC):');
    var memory = CONFIGS.includes('msm sticky') ? await memoryBenchmark() : undefined;
    console.log(JSON.stringify(memory, null, 2));
  }
} finally {
  for (const server of servers) stopServer(server);
  for (const node of memcached.nodes) node.child.kill('SIGKILL');
  redis.child.kill('SIGKILL');
}

if (SUMMARY) {
  const major = process.versions.node.split('.')[0];
  const summary = summaryTable(rows, machine, new Date().toISOString().slice(0, 10));
  // The README's table is the Active LTS's; the other versions' go to docs/performance.md.
  const [file, marker] = major === README_NODE_MAJOR ? ['README.md', 'bench:summary'] : ['docs/performance.md', `bench:summary:node${major}`];
  replaceBetweenMarkers(path.join(here, '..', file), marker, summary);
  console.log(`\n${summary}\n\nwrote the Node ${major} summary in ${file}`);
  process.exit(0);
}

// Ratios, goals, and the report.
const find = (payload, workload, config) => rows.find((r) => r.payload === payload && r.workload === workload && r.config === config);
/**
 * Row `a` against row `b` round by round (rows of one round ran minutes apart at most): like
 * "× Express", `ratio` is the median of the per-round req/s ratios, `low`/`high` their range, and
 * `cpu` the median per-round ratio of server CPU per request, b's over a's (the steadier measure
 * on a noisy host: above 1 when a request of `a` costs less CPU).
 */
const compare = (a, b) => {
  if (!a || !b) return { ratio: NaN, low: NaN, high: NaN, cpu: NaN };
  const ratios = a.roundRps.map((rps, i) => rps / b.roundRps[i]);
  return { ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios), cpu: median(a.roundCpu.map((c, i) => b.roundCpu[i] / c)) };
};
const goals = [];
/** A goal row: `ok` is the test, `measured` what it shows, `spread` a ratio goal's rounds range and CPU comparison. */
const goal = (text, ok, measured, spread = ['–', '–']) => goals.push([text, ok, measured, ...spread]);
/** A ratio goal: row `a` at least `threshold` × row `b` (median of the rounds). */
const ratioGoal = (text, a, b, threshold) => {
  const c = compare(a, b);
  goal(text, c.ratio >= threshold, `${c.ratio.toFixed(2)}×`, [`${c.low.toFixed(2)}–${c.high.toFixed(2)}×`, `${c.cpu.toFixed(2)}×`]);
};
const STICKY = 'msm sticky';
const STICKY_RELAXED = 'msm sticky (revocationCheckInterval 1000)';
const NONSTICKY = 'msm non-sticky (locking none)';
const STICKY_REDIS = 'msm sticky redis';
const NONSTICKY_REDIS = 'msm non-sticky redis (locking none)';
const PEERS_BACKUP = 'msm sticky peers (backup)';
{
  // Against plain Express's read-heavy row, as the "× Express" column.
  const express = find('small', 'read-heavy', 'express');
  ratioGoal('small: sticky read path (read-only) ≥ 0.90 × plain Express', find('small', 'read-only', STICKY), express, 0.9);
  ratioGoal('small: sticky read path with revocationCheckInterval 1000 ≥ 0.90 × plain Express', find('small', 'read-only', STICKY_RELAXED), express, 0.9);
  ratioGoal('small write-heavy: sticky ≥ express-session + MemoryStore', find('small', 'write-heavy', STICKY), find('small', 'write-heavy', 'express-session+MemoryStore'), 1);
  for (const workload of WORKLOADS) {
    ratioGoal(`large (20 KB) ${workload}: sticky ≥ 2 × express-session + MemoryStore`, find('large', workload, STICKY), find('large', workload, 'express-session+MemoryStore'), 2);
  }
  // Rounded to 0.1: memcached also counts the requests still in flight when a run ends, the load generator does not.
  const atMost = (value, limit) => Math.round(value * 10) / 10 <= limit;
  const nro = find('small', 'read-only', NONSTICKY);
  goal('non-sticky read request: ≤ 2 memcached operations', atMost(nro?.opsPerRequest, 2), `${nro?.opsPerRequest.toFixed(2)} ops/request`);
  const nwo = find('small', 'write-only', NONSTICKY);
  goal('non-sticky write request: ≤ 2 memcached writes (plus its 2 reads)', atMost(nwo?.writesPerRequest, 2), `${nwo?.writesPerRequest.toFixed(2)} writes, ${nwo?.opsPerRequest.toFixed(2)} ops/request`);
  for (const payload of PAYLOADS.map((p) => p.name)) {
    for (const workload of WORKLOADS) {
      for (const [mine, rival, threshold] of [
        [NONSTICKY, 'express-session+connect-memcached', 2],
        [NONSTICKY, 'express-session+connect-redis', 1.5],
        [NONSTICKY_REDIS, 'express-session+connect-redis', 1.5],
      ]) {
        ratioGoal(`${payload} ${workload}: ${mine.replace('msm ', '')} ≥ ${threshold} × ${rival.replace('express-session+', 'express-session + ')}`, find(payload, workload, mine), find(payload, workload, rival), threshold);
      }
    }
    // A sticky read never loads the session from memcached; its only operations are the revocation
    // check's gets (one revocation token per node, shared by the checks of an event-loop turn; none
    // with revocationCheckInterval while a recent token read covers the session).
    const sro = find(payload, 'read-only', STICKY);
    goal(`${payload}: sticky read-only requests: no session load, ≤ 2 revocation-check gets`, sro?.opsPerRequest <= 2, `${sro?.opsPerRequest.toFixed(3)} ops/request`);
    // Over Redis the revocation tokens are pushed: with the strict check, a read costs no Redis
    // command (the heartbeats, a few a second, round to 0 per request).
    const rro = find(payload, 'read-only', STICKY_REDIS);
    goal(`${payload}: sticky over Redis, read-only requests: 0 Redis operations (strict revocation check)`, atMost(rro?.opsPerRequest, 0), `${rro?.opsPerRequest.toFixed(3)} ops/request`);
    // Replication between app processes: a read as cheap as sticky over memcached's, a write beside it.
    ratioGoal(`${payload}: peers read path (read-only) ≥ sticky over memcached`, find(payload, 'read-only', PEERS_BACKUP), find(payload, 'read-only', STICKY), 1);
    ratioGoal(`${payload} write-heavy: peers (backup) ≥ 0.9 × sticky over memcached`, find(payload, 'write-heavy', PEERS_BACKUP), find(payload, 'write-heavy', STICKY), 0.9);
  }
  if (memory) {
    goal(
      'sticky heap stays flat once maxLocalSessions is reached',
      memory.bounded.full - memory.bounded.half < 0.2 * (memory.bounded.half - memory.bounded.before),
      `${((memory.bounded.full - memory.bounded.half) / 2 ** 20).toFixed(1)} MiB growth for the second ${MEMORY_SESSIONS / 2} sessions`,
    );
  }
}

const table = [
  '| payload | workload | configuration | req/s | × Express | p50 ms | p99 ms | server CPU µs/req | GC pauses µs/req | store ops/req |',
  '|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.payload} | ${r.workload} | ${r.config} | ${r.rps.toFixed(0)} | ${r.timesExpress.toFixed(2)} | ${r.p50} | ${r.p99} | ${r.cpuPerRequest.toFixed(0)} | ${r.gcPerRequest.toFixed(0)} | ${r.opsPerRequest.toFixed(2)} |`),
].join('\n');
const goalTable = [
  '| goal | met | measured (median round) | rounds (lowest–highest) | CPU per request (theirs ÷ ours) |',
  '|---|---|---|---|---|',
  ...goals.map(([g, ok, ...cells]) => `| ${g} | ${ok ? 'yes' : '**no**'} | ${cells.join(' | ')} |`),
].join('\n');
const stageNames = [...new Set(stageRows.flatMap((r) => Object.keys(r.stages)))];
const express = (r) => find(r.payload, 'read-heavy', 'express')?.cpuPerRequest ?? NaN;
const stageTable = [
  `| payload | workload | configuration | ${stageNames.join(' | ')} | stages total | server CPU − Express |`,
  `|---|---|---|${stageNames.map(() => '---:').join('|')}|---:|---:|`,
  ...stageRows.map((r) => {
    const total = Object.values(r.stages).reduce((a, b) => a + b, 0);
    const extra = find(r.payload, r.workload, r.config).cpuPerRequest - express(r);
    return `| ${r.payload} | ${r.workload} | ${r.config} | ${stageNames.map((s) => r.stages[s].toFixed(1)).join(' | ')} | ${total.toFixed(1)} | ${extra.toFixed(0)} |`;
  }),
].join('\n');
const stageText = `CPU µs per request by trace point (this package's configurations; a separate ${STAGE_SECONDS} s run with the bench subscribed to the package's diagnostics_channel trace points). Each is the synchronous work of that step without the trace points nested in it: "load" (finding and parsing the session), "save" (change detection aside: serializing and starting the save or touch), "storage" (building each storage call). The last column is the server's whole CPU time per request above plain Express's (from the main run): what the trace points do not cover is the cookie check, the HTTP response hooks, change detection, replies from the store being parsed, promise turns and garbage collection.`;
const inProcessLine = (shape) => {
  const figures = inProcess[shape];
  const none = figures['no middleware'];
  return Object.entries(figures)
    .map(([name, us]) => `${name} ${us.toFixed(1)}${us === none ? '' : ` (${us >= none ? '+' : '−'}${Math.abs(us - none).toFixed(1)})`}`)
    .join(', ');
};
const goalText = `The performance goals. "Met" goes by the median round, as the rows above. For a goal comparing two rows, the rounds column gives the lowest and highest of the per-round ratios (a range across the threshold means this host's noise can flip the verdict from one run to the next), and the last column the same comparison in server CPU per request (the other row's CPU per request over this package's, median of the rounds; read against the same threshold, and steadier than req/s on this host).`;
const inProcessText = `In-process, without sockets (\`bench/in-process.mjs\`: requests built as Node's http server builds them, run in a loop through the middleware and a route that reads the session, garbage collection included; median of 5 loops, server CPU), CPU µs per small read request. With Express's request objects (prototypes swapped, Express's properties added): ${inProcessLine('express')}. On bare node:http: ${inProcessLine('node:http')}.`;
const memoryText = memory
  ? `Memory, msm sticky with ${MEMORY_SESSIONS.toLocaleString('en')} small sessions created: ${Math.round(memory.unbounded.perSession)} bytes of heap per session held; with \`maxLocalSessions: ${memory.bounded.maxLocal}\` the heap grew ${((memory.bounded.half - memory.bounded.before) / 2 ** 20).toFixed(1)} MiB for the first ${MEMORY_SESSIONS / 2} sessions and ${((memory.bounded.full - memory.bounded.half) / 2 ** 20).toFixed(1)} MiB for the next ${MEMORY_SESSIONS / 2} (${memory.bounded.local} held).`
  : '';
const header = `Machine: ${machine}. ${hasTaskset ? 'Server pinned to CPU 0, load generator (autocannon, separate process) to CPU 1' : 'Processes not pinned'}; 2 memcached nodes (${memcached.provider}) and 1 redis-server, unpinned. ${SESSIONS.toLocaleString('en')} sessions per configuration (each read once before the runs), ${CONNECTIONS} connections; every configuration's server is started first, then ${ROUNDS} rounds of ${SECONDS} s runs (each round runs every row once, each server warmed up by an unmeasured ${WARMUP_SECONDS} s run first) and each row shows its median round; read-heavy = 95% reads / 5% writes, write-heavy = 50/50, read-only and write-only = 100%; small ≈ 200 B, large ≈ 20 KB sessions. "× Express" is the median of the row's per-round ratios to plain Express (read-heavy, same payload, same round). Measured ${new Date().toISOString().slice(0, 10)}.`;
const report = `# Benchmark results\n\n${header}\n\n${table}\n\n## Goals\n\n${goalText}\n\n${goalTable}\n\n## Where the CPU goes\n\n${stageText}\n\n${stageTable}\n\n${inProcessText}\n\n## Memory\n\n${memoryText}\n\n![requests per second](latest.svg)\n`;
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results/latest.md'), report);
writeFileSync(path.join(here, 'results/latest.json'), JSON.stringify({ machine, rows, goals, stages: stageRows, inProcess, memory }, null, 2));
writeFileSync(path.join(here, 'results/latest.svg'), chart(rows, CONFIGS));
if (!process.env.BENCH_CONFIGS && !process.env.BENCH_BASELINE) {
  const full = `${header}\n\n${table}\n\n${goalText}\n\n${goalTable}\n\n${stageText}\n\n${stageTable}\n\n${inProcessText}\n\n${memoryText}\n\n![requests per second](../bench/results/latest.svg)`;
  replaceBetweenMarkers(path.join(here, '../docs/performance.md'), 'bench', full);
  replaceBetweenMarkers(path.join(here, '../README.md'), 'bench:summary', summaryTable(rows, machine, new Date().toISOString().slice(0, 10)));
}
console.log(`\n${goalTable}\n\n${stageTable}\n\nwrote bench/results/latest.md, latest.svg, latest.json${process.env.BENCH_CONFIGS || process.env.BENCH_BASELINE ? '' : ', docs/performance.md and the README table'}`);
