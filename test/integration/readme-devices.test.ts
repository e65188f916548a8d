/**
 * The README's "Log out other devices" example runs as pasted, with real passport and
 * passport-local, against a real memcached: the same user logged in on three devices, a password
 * change on one logs the other two out and keeps that one in.
 */
import { afterEach, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startMemcached } from '../helpers/memcached.js';
import { waitForListener } from '../helpers/http.js';
import { codeBlocks, readDocument, section } from '../helpers/readme.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('README "Log out other devices" runs as pasted: a password change logs out every other device', async () => {
  const [code] = codeBlocks(section(readDocument(), '## Log out other devices'), 'js');
  expect(code).toContain('127.0.0.1:11211');
  const memcached = await startMemcached();
  cleanups.push(() => memcached.stop());
  const dir = mkdtempSync(path.join(tmpdir(), 'msm-devices-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'node_modules'));
  for (const dependency of ['express', 'passport', 'passport-local']) {
    symlinkSync(path.join(root, 'node_modules', dependency), path.join(dir, 'node_modules', dependency));
  }
  symlinkSync(root, path.join(dir, 'node_modules/memcached-session-manager'));
  writeFileSync(path.join(dir, 'app.js'), code.replaceAll('127.0.0.1:11211', memcached.address));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['app.js'], {
    cwd: dir,
    env: { ...process.env, SESSION_SECRET: randomBytes(32).toString('base64'), PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    await exited;
  });
  await waitForListener(`${url}/me`);

  const send = async (method: string, route: string, cookie?: string, form?: Record<string, string>) => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: { ...(cookie ? { cookie } : {}), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    return { status: response.status, body: await response.text(), cookie: response.headers.getSetCookie()[0]?.split(';')[0] };
  };
  const devices: string[] = [];
  for (let i = 0; i < 3; i++) {
    const login = await send('POST', '/login', undefined, { username: 'alice', password: 'wonderland' });
    expect(login, stderr).toMatchObject({ status: 200, body: 'hello alice\n' });
    devices.push(login.cookie!);
  }
  expect((await send('POST', '/login', undefined, { username: 'alice', password: 'wrong' })).status).toBe(401);
  for (const device of devices) expect((await send('GET', '/me', device)).body).toBe('alice\n');
  const listed = JSON.parse((await send('GET', '/devices', devices[0])).body) as Array<{ handle: string }>;
  expect(listed).toHaveLength(3);
  for (const { handle } of listed) for (const device of devices) expect(decodeURIComponent(device)).not.toContain(handle);

  const changed = await send('POST', '/password', devices[0], { password: 'looking-glass' });
  expect(changed, stderr).toMatchObject({ status: 200, body: '{"loggedOut":2}' });
  expect((await send('GET', '/me', devices[0])).body).toBe('alice\n');
  expect((await send('GET', '/me', devices[1])).body).toBe('nobody\n');
  expect((await send('GET', '/me', devices[2])).body).toBe('nobody\n');
  expect((await send('POST', '/login', undefined, { username: 'alice', password: 'looking-glass' })).status).toBe(200);
  expect(stderr).toBe('');
});
