/**
 * The README's quick starts run as pasted: each code block is saved in a fresh project that has
 * only express and this package installed (symlinks to the built package), run with node against
 * a real memcached (only its port, 11211 in the text, is changed), and must keep a session across
 * two requests, store it in memcached, and exit cleanly on SIGTERM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startMemcached } from '../helpers/memcached.js';
import { waitForListener } from '../helpers/http.js';
import { codeBlocks, readDocument, section } from '../helpers/readme.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const README_MEMCACHED = '127.0.0.1:11211';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The first `js` block under `heading`: the quick start's application. */
function quickStart(heading: string): string {
  const [code] = codeBlocks(section(readDocument(), heading), 'js');
  expect(code, `a js block under "${heading}"`).toBeDefined();
  expect(code).toContain(README_MEMCACHED);
  expect(code).not.toMatch(/10\.0\.0\.\d/);
  return code;
}

/** A fresh project directory whose node_modules holds express and this package, as an install would. */
function project(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'msm-quick-start-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(path.join(root, 'node_modules/express'), path.join(dir, 'node_modules/express'));
  symlinkSync(root, path.join(dir, 'node_modules/memcached-session-manager'));
  return dir;
}

/** Runs `file` in `dir` with node; stderr is kept for failure messages. */
function run(dir: string, file: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    await exited;
  });
  return { child, exited, stderr: () => stderr };
}

async function get(url: string, cookie?: string) {
  const response = await fetch(url, { headers: cookie ? { cookie } : {} });
  return { status: response.status, body: await response.text(), cookie: response.headers.getSetCookie()[0]?.split(';')[0] };
}

describe.each([
  ['## Quick start: Express', 'views'],
  ['## Quick start: node:http', 'count'],
])('README %s', (heading, counter) => {
  it('runs as pasted: keeps a session in memcached across requests and stops on SIGTERM', async () => {
    expect(existsSync(path.join(root, 'dist/cjs/index.cjs')), 'the package is built (npm run build)').toBe(true);
    const code = quickStart(heading);
    const memcached = await startMemcached();
    cleanups.push(() => memcached.stop());
    const dir = project();
    const file = /^import /m.test(code) ? 'app.mjs' : 'app.js';
    writeFileSync(path.join(dir, file), code.replaceAll(README_MEMCACHED, memcached.address));

    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const app = run(dir, file, { SESSION_SECRET: randomBytes(32).toString('base64'), PORT: String(port) });
    await Promise.race([
      waitForListener(url),
      app.exited.then((code) => {
        throw new Error(`${file} exited with ${code}: ${app.stderr()}`);
      }),
    ]);

    const first = await get(url);
    expect(first).toMatchObject({ status: 200, body: `${counter}: 1\n` });
    expect(first.cookie).toMatch(/^connect\.sid=s%3A/);
    const second = await get(url, first.cookie);
    expect(second).toMatchObject({ status: 200, body: `${counter}: 2\n` });
    // Stored in memcached, not only in the process's memory (sticky mode backs up after the response).
    await expect.poll(async () => (await memcached.stats()).curr_items, { timeout: 5000 }).toBeGreaterThan(0);

    process.kill(app.child.pid!, 'SIGTERM');
    const exitCode = await Promise.race([app.exited, new Promise((resolve) => setTimeout(() => resolve('still running 5 s after SIGTERM'), 5000))]);
    expect(exitCode, app.stderr()).toBe(0);
    expect(app.stderr()).toBe('');
  });
});
