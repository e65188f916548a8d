/**
 * A process that uses the middleware and never calls close() still exits once its own work is
 * done (test runners, scripts): idle memcached or Redis connections do not hold it open.
 */
import { afterEach, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServers, type TestBackend } from '../helpers/backend.js';
import { missingPackage } from '../helpers/system-programs.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const script = `
import http from 'node:http';
import session from ${JSON.stringify(root + 'dist/esm/index.js')};
const sessions = session({ secret: 's', resave: false, saveUninitialized: false, ...JSON.parse(process.env.NODES),
  sticky: process.env.STICKY === '1', sessionBackupAsync: false });
const server = http.createServer((req, res) => sessions(req, res, () => { req.session.n = 1; res.end('ok'); }));
server.listen(0, '127.0.0.1', async () => {
  const reply = await fetch('http://127.0.0.1:' + server.address().port + '/', { headers: { connection: 'close' } });
  const cookie = reply.headers.get('set-cookie').split(';')[0];
  await fetch('http://127.0.0.1:' + server.address().port + '/', { headers: { cookie, connection: 'close' } });
  console.log('stored', JSON.stringify(sessions.statistics().counters.backups));
  server.close();
});
`;

/** Runs the script; resolves with its exit code and output, or 'hung' after `ms`. */
function runChild(env: Record<string, string>, ms: number): Promise<{ code: number | 'hung'; out: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'hung', out });
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

for (const backend of ['memcached', 'redis'] as TestBackend[]) for (const sticky of [true, false]) {
  it.skipIf(backend === 'redis' && missingPackage('redis-server'))(`exits without close() after using ${backend} (${sticky ? 'sticky' : 'non-sticky'})`, async () => {
    const cluster = await startServers(2, backend);
    cleanups.push(cluster.stop);
    const result = await runChild({ NODES: JSON.stringify(cluster.options), STICKY: sticky ? '1' : '0' }, 10_000);
    expect(result.out).toMatch(/^stored [1-9]/m);
    expect(result.code).toBe(0);
  });
}
