import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { freePort } from './memcached.js';
import { waitForListener } from './http.js';

/** What nginxConfig's `standalone` needs for an nginx run under `prefix` by this test. */
export const standalone = (prefix: string) => ({ prefix, runAsRoot: process.getuid?.() === 0 });

/**
 * Runs a real nginx with the configuration `config(listen, prefix)` gives (checked with `nginx -t`
 * first) in a temporary prefix; `cleanups` gets its stop. Resolves with its URL once it answers.
 */
export async function runNginx(config: (listen: string, prefix: string) => string, cleanups: Array<() => Promise<void> | void>): Promise<string> {
  const prefix = mkdtempSync(path.join(tmpdir(), 'msm-nginx-test-'));
  for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(prefix, `${temp}_temp`));
  const port = await freePort();
  const file = path.join(prefix, 'nginx.conf');
  writeFileSync(file, config(`127.0.0.1:${port}`, prefix));
  const check = spawnSync('nginx', ['-t', '-p', prefix, '-c', file], { encoding: 'utf8' });
  expect(check.status, check.stderr).toBe(0);
  expect(check.stderr).toMatch(/syntax is ok/);
  const nginx: ChildProcess = spawn('nginx', ['-p', prefix, '-c', file, '-g', 'daemon off;'], { stdio: 'ignore' });
  cleanups.push(async () => {
    // SIGQUIT lets the master end its workers (SIGKILL would orphan them).
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
    rmSync(prefix, { recursive: true, force: true });
  });
  await waitForListener(`http://127.0.0.1:${port}/`);
  return `http://127.0.0.1:${port}`;
}
