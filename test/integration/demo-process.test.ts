/**
 * The demo as a newcomer runs it: `npm run demo`, driven over HTTP, stopped with SIGINT.
 */
import { expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { freePort } from '../helpers/memcached.js';
import { Client } from '../helpers/http.js';

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
  const demo = spawn('npm', ['run', 'demo', '--', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  expect(cluster.apps).toHaveLength(3);
  expect(cluster.memcached).toHaveLength(3);
  expect(cluster.pids.length).toBeGreaterThanOrEqual(6);

  const client = new Client(url.replace(/\/$/, ''));
  expect((await client.get('/')).body).toContain('Northwind Outfitters');
  const login = await fetch(`${url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
  client.cookie = login.headers.getSetCookie()[0].split(';')[0];
  const state = await client.json<{ session: { user: string }; servedBy: string }>('/api/state');
  expect(state.session.user).toBe('Ada');

  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
  demo.kill('SIGINT');
  expect(await exited).toBe(0);
  await new Promise((r) => setTimeout(r, 200));
  expect(cluster.pids.filter(alive)).toEqual([]);
  // The port is free again.
  const server = (await import('node:net')).createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  server.close();
}, 90_000);
