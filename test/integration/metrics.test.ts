/**
 * Operator interfaces: the Prometheus exposition, and structured log events through pino.
 */
import { afterEach, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import session, { sessionMetrics } from '../../src/index.js';
import { startCluster } from '../helpers/memcached.js';
import { Client, serve } from '../helpers/http.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('exposes counters, node health and latency histograms in Prometheus format, in one line', async () => {
  const cluster = await startCluster(2);
  cleanups.push(cluster.stop);
  const sessions = session({ secret: 's', resave: false, saveUninitialized: false, memcachedNodes: cluster.nodes, sessionBackupAsync: false });
  const app = express();
  app.get('/metrics', sessionMetrics(sessions));
  app.use(sessions);
  app.get('/set', (req, res) => {
    (req as unknown as { session: Record<string, unknown> }).session.n = 1;
    res.end('ok');
  });
  app.get('/read', (_req, res) => res.end('ok'));
  const server = await serve(app);
  cleanups.push(server.close, () => sessions.close());
  const client = new Client(server.url);
  await client.get('/set');
  for (let i = 0; i < 4; i++) await client.get('/read');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/^msm_requests_with_session_total 4$/m);
  expect(metrics).toMatch(/^msm_requests_without_session_total 1$/m); // /metrics is mounted before the middleware
  expect(metrics).toMatch(/^msm_backups_total 1$/m);
  expect(metrics).toMatch(/^msm_local_sessions 1$/m);
  expect(metrics).toMatch(/^msm_memcached_node_up\{node="n1"\} 1$/m);
  expect(metrics).toMatch(/^msm_operation_duration_seconds_count\{operation="backup"\} 1$/m);
  // A bucket line per bound, cumulative: the last one holds every sample (no assumption about how fast it ran).
  expect(metrics).toMatch(/^msm_operation_duration_seconds_bucket\{le="5",operation="serialization"\} 1$/m);
});

it('logs node down and up as structured events through a pino logger', async () => {
  const cluster = await startCluster(2);
  cleanups.push(cluster.stop);
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    }),
  );
  const secret = 'TOP-SECRET-never-in-logs';
  const sessions = session({ secret, resave: false, saveUninitialized: false, memcachedNodes: cluster.nodes, operationTimeout: 300, logger });
  cleanups.push(() => sessions.close());
  await new Promise((r) => setTimeout(r, 600));
  await cluster.instances[1].signal('SIGKILL');
  await new Promise((r) => setTimeout(r, 2500));
  const down = lines.find((l) => l.event === 'memcached_node_down');
  expect(down).toMatchObject({ level: 40, node: 'n2', ring: ['n1'] });
  expect(String(down!.msg)).toMatch(/^\[memcached-session-manager\] memcached node n2 is down/);
  // Secrets are never logged.
  expect(lines.length).toBeGreaterThan(0);
  expect(JSON.stringify(lines)).not.toContain(secret);
});
