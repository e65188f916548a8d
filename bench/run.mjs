// npm run bench: every configuration against the same workloads in one run on this machine.
// The server runs pinned to CPU 0 and the load generator (autocannon, its own process) to CPU 1;
// memcached is not pinned. Results: bench/results/latest.md, latest.svg, and the README table.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chart } from './chart.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const MEMORY_SESSIONS = Number(process.env.BENCH_MEMORY_SESSIONS ?? 100_000);
const CONNECTIONS = 10;
const CONFIGS = [
  'express',
  'express-session+MemoryStore',
  'express-session+connect-memcached',
  'msm sticky',
  'msm non-sticky (locking none)',
  'msm non-sticky (locking all)',
];
const WORKLOADS = [
  { name: 'read-heavy', write: 0.05 },
  { name: 'write-heavy', write: 0.5 },
];
const PAYLOADS = [
  { name: 'small', bytes: 200 },
  { name: 'large', bytes: 20_000 },
];
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status === 0;
const pinned = (cpu, command, args) => (hasTaskset ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args]);

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

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

async function memcachedOps(ports) {
  let total = 0;
  for (const port of ports) {
    const s = await textStats(port);
    total += s.cmd_get + s.cmd_set + s.cmd_touch + s.delete_hits + s.delete_misses;
  }
  return total;
}

async function startMemcached(count) {
  const binary = spawnSync('sh', ['-c', 'command -v memcached'], { stdio: 'ignore' }).status === 0;
  if (!binary) console.warn('NOTICE: no memcached binary on PATH: benchmarking against the EMBEDDED server, which is not representative.');
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const args = binary
      ? ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '1024', '-c', '4096', ...(process.getuid?.() === 0 ? ['-u', 'root'] : [])]
      : [path.join(here, '../dist/esm/embedded-memcached/cli.js'), '--port', String(port), '--memory-mb', '1024'];
    const child = spawn(binary ? 'memcached' : process.execPath, args, { stdio: 'ignore' });
    for (let t = 0; t < 100; t++) {
      if (await textStats(port).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    nodes.push({ port, child });
  }
  return { nodes, provider: binary ? 'memcached binary' : 'embedded server', option: nodes.map((n, i) => `n${i + 1}:127.0.0.1:${n.port}`).join(',') };
}

async function startServer(config, payload, memcached, extraEnv = {}, nodeArgs = []) {
  const [command, args] = pinned(0, process.execPath, [...nodeArgs, path.join(here, 'server.mjs')]);
  const child = spawn(command, args, {
    env: { ...process.env, BENCH_CONFIG: config, BENCH_PAYLOAD: String(payload), BENCH_MEMCACHED: memcached, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  return { url: `http://127.0.0.1:${JSON.parse(line).port}`, stop: () => child.kill('SIGKILL') };
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

function runLoad(url, cookiesFile, write, seconds) {
  const [command, args] = pinned(1, process.execPath, [path.join(here, 'load.mjs'), url, cookiesFile, String(write), String(seconds), String(CONNECTIONS)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line))));
}

async function heap(url) {
  return (await fetch(`${url}/heap`)).json();
}

async function memoryBenchmark(memcached) {
  const out = {};
  for (const [label, maxLocal] of [['unbounded', MEMORY_SESSIONS * 2], ['bounded', MEMORY_SESSIONS / 2]]) {
    const server = await startServer('msm sticky', 200, memcached, { BENCH_MAX_LOCAL: String(maxLocal) }, ['--expose-gc']);
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

const memcached = await startMemcached(2);
const ports = memcached.nodes.map((n) => n.port);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
console.log(`machine: ${machine}`);
console.log(hasTaskset ? 'server pinned to CPU 0, load generator (autocannon) to CPU 1; memcached unpinned' : 'taskset not found: processes are not pinned');
console.log(`memcached: 2 nodes (${memcached.provider}); ${SESSIONS} sessions per configuration; ${SECONDS} s per run, ${CONNECTIONS} connections\n`);

const rows = [];
const cookiesFile = path.join(tmpdir(), `msm-bench-cookies-${process.pid}.json`);
try {
  for (const payload of PAYLOADS) {
    for (const config of CONFIGS) {
      const server = await startServer(config, payload.bytes, memcached.option);
      const cookies = config === 'express' ? [''] : await createSessions(server.url, SESSIONS);
      writeFileSync(cookiesFile, JSON.stringify(cookies));
      const workloads = config === 'msm sticky' ? [...WORKLOADS, { name: 'read-only', write: 0 }] : WORKLOADS;
      for (const workload of workloads) {
        const before = await memcachedOps(ports);
        const result = await runLoad(server.url, cookiesFile, workload.write, SECONDS);
        const ops = (await memcachedOps(ports)) - before;
        const row = { payload: payload.name, workload: workload.name, config, ...result, opsPerRequest: ops / Math.max(1, result.requests) };
        rows.push(row);
        console.log(`${payload.name.padEnd(5)} ${workload.name.padEnd(11)} ${config.padEnd(34)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50} ms  p99 ${row.p99} ms  memcached ops/req ${row.opsPerRequest.toFixed(2)}${row.errors || row.non2xx ? `  errors ${row.errors} non-2xx ${row.non2xx}` : ''}`);
      }
      server.stop();
    }
  }
  console.log('\nmemory (msm sticky, heap used after GC):');
  var memory = await memoryBenchmark(memcached.option);
  console.log(JSON.stringify(memory, null, 2));
} finally {
  for (const node of memcached.nodes) node.child.kill('SIGKILL');
}

// Ratios, goals, and the report.
const find = (payload, workload, config) => rows.find((r) => r.payload === payload && r.workload === workload && r.config === config);
const ceiling = (r) => find(r.payload, r.workload === 'read-only' ? 'read-heavy' : r.workload, 'express').rps;
const goals = [];
for (const payload of PAYLOADS.map((p) => p.name)) {
  const sticky = find(payload, 'read-heavy', 'msm sticky');
  goals.push([`${payload}: sticky read-heavy ≥ 0.9 × plain Express`, sticky.rps / ceiling(sticky) >= 0.9, `${(sticky.rps / ceiling(sticky)).toFixed(2)}×`]);
  for (const workload of WORKLOADS.map((w) => w.name)) {
    const s = find(payload, workload, 'msm sticky');
    const mem = find(payload, workload, 'express-session+MemoryStore');
    goals.push([`${payload} ${workload}: sticky faster than express-session + MemoryStore`, s.rps > mem.rps, `${(s.rps / mem.rps).toFixed(2)}×`]);
    const n = find(payload, workload, 'msm non-sticky (locking none)');
    const cm = find(payload, workload, 'express-session+connect-memcached');
    goals.push([`${payload} ${workload}: non-sticky faster than express-session + connect-memcached`, n.rps > cm.rps, `${(n.rps / cm.rps).toFixed(2)}×`]);
  }
  const ro = find(payload, 'read-only', 'msm sticky');
  goals.push([`${payload}: 0 memcached operations for sticky read-only requests`, ro.opsPerRequest === 0, `${ro.opsPerRequest.toFixed(3)} ops/request`]);
}
goals.push([
  'sticky heap stays flat once maxLocalSessions is reached',
  memory.bounded.full - memory.bounded.half < 0.2 * (memory.bounded.half - memory.bounded.before),
  `${((memory.bounded.full - memory.bounded.half) / 2 ** 20).toFixed(1)} MiB growth for the second ${MEMORY_SESSIONS / 2} sessions`,
]);

const table = [
  '| payload | workload | configuration | req/s | × Express | p50 ms | p99 ms | memcached ops/req |',
  '|---|---|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.payload} | ${r.workload} | ${r.config} | ${r.rps.toFixed(0)} | ${(r.rps / ceiling(r)).toFixed(2)} | ${r.p50} | ${r.p99} | ${r.opsPerRequest.toFixed(2)} |`),
].join('\n');
const goalTable = ['| goal | met | measured |', '|---|---|---|', ...goals.map(([g, ok, m]) => `| ${g} | ${ok ? 'yes' : '**no**'} | ${m} |`)].join('\n');
const memoryText = `Memory, msm sticky with ${MEMORY_SESSIONS.toLocaleString('en')} small sessions created: ${Math.round(memory.unbounded.perSession)} bytes of heap per session held; with \`maxLocalSessions: ${memory.bounded.maxLocal}\` the heap grew ${((memory.bounded.half - memory.bounded.before) / 2 ** 20).toFixed(1)} MiB for the first ${MEMORY_SESSIONS / 2} sessions and ${((memory.bounded.full - memory.bounded.half) / 2 ** 20).toFixed(1)} MiB for the next ${MEMORY_SESSIONS / 2} (${memory.bounded.local} held).`;
const header = `Machine: ${machine}. ${hasTaskset ? 'Server pinned to CPU 0, load generator (autocannon, separate process) to CPU 1' : 'Processes not pinned'}; 2 memcached nodes (${memcached.provider}, unpinned). ${SESSIONS.toLocaleString('en')} sessions per configuration, ${SECONDS} s per run, ${CONNECTIONS} connections; read-heavy = 95% reads / 5% writes, write-heavy = 50/50; small ≈ 200 B, large ≈ 20 KB sessions. Measured ${new Date().toISOString().slice(0, 10)}.`;
const report = `# Benchmark results\n\n${header}\n\n${table}\n\n## Goals\n\n${goalTable}\n\n## Memory\n\n${memoryText}\n\n![requests per second](latest.svg)\n`;
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results/latest.md'), report);
writeFileSync(path.join(here, 'results/latest.json'), JSON.stringify({ machine, rows, goals, memory }, null, 2));
writeFileSync(path.join(here, 'results/latest.svg'), chart(rows, CONFIGS));
const readmePath = path.join(here, '../README.md');
const readme = readFileSync(readmePath, 'utf8');
const block = `<!-- bench:start -->\n${header}\n\n${table}\n\n${goalTable}\n\n${memoryText}\n\n![requests per second](bench/results/latest.svg)\n<!-- bench:end -->`;
writeFileSync(readmePath, readme.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, block));
console.log(`\n${goalTable}\n\nwrote bench/results/latest.md, latest.svg, latest.json and the README table`);
