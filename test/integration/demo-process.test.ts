/**
 * The demo as a newcomer runs it: `npm run demo`, driven over HTTP, stopped with SIGINT.
 */
import { expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/memcached.js';
import { Client } from '../helpers/http.js';
import { missingPackage } from '../helpers/system-programs.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('npm run demo prints its URL, serves the shop, and leaves no process behind after SIGINT', async () => {
  const port = await freePort();
  // Its own process group, so SIGINT reaches npm and the demo together, as Ctrl-C in a terminal does.
  const demo = spawn('npm', ['run', 'demo', '--', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let started: number[] = [];
  try {
    await driveAndStop(demo, port, (pids) => (started = pids));
  } finally {
    // Only on failure is anything left: end what this test started, by PID.
    if (alive(demo.pid!)) process.kill(-demo.pid!, 'SIGKILL');
    for (const pid of started.filter(alive)) process.kill(pid, 'SIGKILL');
  }
}, 90_000);

async function driveAndStop(demo: ReturnType<typeof spawn>, port: number, remember: (pids: number[]) => void) {
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    demo.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /Open (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    });
    demo.once('exit', (code) => reject(new Error(`demo exited (${code}) before printing its URL:\n${output}`)));
  });
  expect(output).toMatch(/memcached: (the memcached binary on PATH|the embedded memcached-compatible server)/);
  expect(output).toMatch(/load balancer: (nginx|built-in sticky proxy)/);

  const cluster = (await (await fetch(`${url}_demo/state`)).json()) as { pids: number[]; apps: unknown[]; memcached: unknown[] };
  remember(cluster.pids);
  expect(cluster.apps).toHaveLength(3);
  expect(cluster.memcached).toHaveLength(3);
  expect(cluster.pids.length).toBeGreaterThanOrEqual(6);

  const client = new Client(url.replace(/\/$/, ''));
  expect((await client.get('/')).body).toContain('Northwind Outfitters');
  const login = await fetch(`${url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
  client.cookie = login.headers.getSetCookie()[0].split(';')[0];
  const state = await client.json<{ session: { user: string }; servedBy: string }>('/api/state');
  expect(state.session.user).toBe('Ada');
  // Ada on a second device; "Log out other devices" from the first signs the second out.
  const second = new Client(url.replace(/\/$/, ''));
  const secondLogin = await fetch(`${url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
  second.cookie = secondLogin.headers.getSetCookie()[0].split(';')[0];
  expect((await client.json<{ sessions: unknown[] }>('/api/devices')).sessions).toHaveLength(2);
  const loggedOut = await fetch(`${url}api/logout-others`, { method: 'POST', headers: { cookie: client.cookie, 'content-type': 'application/json' }, body: '{}' });
  expect(await loggedOut.json()).toEqual({ revoked: 1 });
  expect((await second.json<{ session: { user: string | null } }>('/api/state')).session.user).toBeNull();
  expect((await client.json<{ session: { user: string } }>('/api/state')).session.user).toBe('Ada');

  // The output pipe closes once npm and the demo have both exited.
  const closed = new Promise<void>((resolve) => demo.stdout!.once('close', () => resolve()));
  process.kill(-demo.pid!, 'SIGINT');
  await closed;
  expect(output).toMatch(/stopped: every process ended, ports freed/);
  await new Promise((r) => setTimeout(r, 200));
  expect(cluster.pids.filter(alive)).toEqual([]);
  // The port is free again.
  const server = (await import('node:net')).createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  server.close();
}

/** Runs the built CLI directly (no npm), or another entry, in its own process group; collects its output. */
function runCli(args: string[], entry = 'dist/esm/demo/cli.js', cwd = process.cwd()) {
  const child = spawn(process.execPath, [entry, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out = { text: '' };
  child.stdout!.on('data', (chunk) => (out.text += chunk));
  child.stderr!.on('data', (chunk) => (out.text += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, exited };
}

for (const lb of ['nginx', 'builtin'] as const) {
  it.skipIf(lb === 'nginx' && missingPackage('nginx'))(`with the port taken by another program, --lb ${lb} fails clearly and leaves nothing behind`, async () => {
    const net = await import('node:net');
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const port = (other.address() as import('node:net').AddressInfo).port;
    const { child, out, exited } = runCli(['--lb', lb, '--port', String(port)]);
    try {
      // Bounded well below the test's timeout, so the cleanup below always runs.
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running after 30 s'), 30_000));
      expect(await Promise.race([exited, timeout])).toBe(1);
      expect(out.text).toMatch(new RegExp(`demo failed to start: port ${port} on 127.0.0.1 is already in use by another program; choose another with --port`));
      expect(out.text).not.toMatch(/Open http/);
      expect(out.text).toMatch(/stopped: every process ended/);
    } finally {
      if (alive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
      other.close();
    }
  }, 60_000);
}

it('non-sticky banner, and the terminal reports nodes killed and back, and what the app nodes saw, once each', async () => {
  const port = await freePort();
  const { child, out } = runCli(['--lb', 'builtin', '--mode', 'non-sticky', '--port', String(port)]);
  let pids: number[] = [];
  try {
    const until = Date.now() + 30_000;
    while (!/Open http/.test(out.text) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(out.text).toMatch(/load balancer: built-in round-robin proxy \(non-sticky mode/);
    expect(out.text).not.toMatch(/sticky proxy|sticky by/);
    const base = `http://127.0.0.1:${port}/_demo`;
    pids = ((await (await fetch(`${base}/state`)).json()) as { pids: number[] }).pids;
    const control = async (path: string) => expect((await fetch(`${base}/${path}`, { method: 'POST' })).status).toBe(200);
    const printed = async (line: RegExp) => {
      const until = Date.now() + 15_000;
      while (!line.test(out.text) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(out.text).toMatch(line);
    };
    await control('apps/0/kill');
    await control('apps/0/restart');
    await control('memcached/1/kill');
    // Every app node notices: one line naming them all.
    await printed(/memcached n2 is down, seen by app1, app2, app3 \((3 consecutive failures|connection refused), last: .+\)\n/);
    await control('memcached/1/restart');
    await printed(/memcached n2 is up again, seen by app1, app2, app3 \(answered a health check\)\n/);
    pids.push(...((await (await fetch(`${base}/state`)).json()) as { pids: number[] }).pids);
    expect(out.text).toMatch(
      /app1 killed \(SIGKILL\)\n {2}app1 is back \(pid \d+\)\n {2}memcached n2 killed \(SIGKILL\)\n {2}memcached n2 is down, seen by [^\n]+\n {2}memcached n2 is back \(pid \d+, empty\)\n {2}memcached n2 is up again, seen by /,
    );
    expect(out.text.match(/n2 is down/g)).toHaveLength(1);
    expect(out.text).not.toContain('[memcached-session-manager]');
  } finally {
    if (alive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
  }
}, 60_000);

it('in a clone never built, npm run demo transpiles src/ (saying so) and runs the demo from that', async () => {
  const clone = mkdtempSync(path.join(tmpdir(), 'msm-demo-clone-'));
  for (const part of ['src', 'scripts', 'package.json']) cpSync(part, path.join(clone, part), { recursive: true });
  symlinkSync(path.resolve('node_modules'), path.join(clone, 'node_modules'));
  const port = await freePort();
  const { child, out } = runCli(['--lb', 'builtin', '--port', String(port)], 'scripts/demo.mjs', clone);
  try {
    const until = Date.now() + 60_000;
    while (!/Open http/.test(out.text) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(out.text).toMatch(/^building the demo from src\/ \(\d+ files, transpiled without type checking\)… done in \d+\.\d s\n/);
    expect(out.text).toMatch(/Open http/);
    const login = await fetch(`http://127.0.0.1:${port}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    expect(((await login.json()) as { session: { user: string } }).session.user).toBe('Ada');
    const closed = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    await closed;
    expect(out.text).toMatch(/stopped: every process ended, ports freed/);
  } finally {
    if (alive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
    rmSync(clone, { recursive: true, force: true });
  }
}, 90_000);
