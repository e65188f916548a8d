/**
 * The diagnostics_channel trace points an operator subscribes to: a session's load and save, and
 * every storage call, with their contexts; none carries a session id.
 */
import { afterEach, expect, it } from 'vitest';
import diagnostics from 'node:diagnostics_channel';
import express from 'express';
import session, { traceChannels } from '../../src/index.js';
import { startCluster } from '../helpers/memcached.js';
import { Client, serve } from '../helpers/http.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

type Event = { channel: string; phase: string; context: Record<string, unknown> };

/** Records every event of the package's trace points until the test ends. */
function record(): Event[] {
  const events: Event[] = [];
  for (const [channel, name] of Object.entries(traceChannels)) {
    const on = (phase: string) => (context: object) => void events.push({ channel, phase, context: context as Record<string, unknown> });
    const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
    const tracing = diagnostics.tracingChannel(name);
    tracing.subscribe(handlers);
    cleanups.push(() => tracing.unsubscribe(handlers));
  }
  return events;
}

async function app(sticky: boolean, memcachedNodes: string) {
  const sessions = session({ secret: 's', resave: false, saveUninitialized: false, memcachedNodes, sticky, sessionBackupAsync: false, operationTimeout: 300, logger: quiet });
  const app = express();
  app.use(sessions);
  app.get('/set', (req, res) => {
    const data = (req as unknown as { session: { n?: number } }).session;
    data.n = (data.n ?? 0) + 1;
    res.end('ok');
  });
  app.get('/read', (_req, res) => res.end('ok'));
  const server = await serve(app);
  cleanups.push(() => sessions.close(), server.close);
  return new Client(server.url);
}

it('publishes load, save and each storage call (non-sticky), with node and operation and no session id', async () => {
  const cluster = await startCluster(2);
  cleanups.push(cluster.stop);
  const client = await app(false, cluster.nodes);
  await client.get('/set');
  const events = record();
  await client.get('/read');
  await client.get('/set');

  const of = (channel: string, phase: string) => events.filter((e) => e.channel === channel && e.phase === phase);
  expect(of('load', 'start')).toHaveLength(2);
  expect(of('load', 'asyncEnd')).toHaveLength(2); // non-sticky loads from memcached: a promise
  expect(of('save', 'start').map((e) => e.context.operation)).toContain('save');
  // Health checks (`instance`) run on their own clock: left out.
  const storage = of('storage', 'start').map((e) => e.context).filter((c) => c.operation !== 'instance');
  expect(new Set(storage.map((c) => c.kind))).toEqual(new Set(['memcached']));
  expect(storage.every((c) => c.node === 'n1' || c.node === 'n2')).toBe(true);
  expect(storage.map((c) => c.operation)).toEqual(['getAndTouch', 'getAndTouch', 'getAndTouch', 'getAndTouch', 'set', 'set']); // two copies read per load, written per save
  expect(of('storage', 'asyncEnd').filter((e) => e.context.operation !== 'instance')).toHaveLength(storage.length);
  // Contexts name no session: the cookie's id appears in none of them (requests aside).
  const id = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).split('.')[0];
  for (const { context } of events) {
    const { req: _req, ...rest } = context;
    expect(JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(id);
  }
});

it('publishes a failed storage call on the error channel (sticky)', async () => {
  const cluster = await startCluster(1);
  cleanups.push(cluster.stop);
  const client = await app(true, cluster.nodes);
  await client.get('/set');
  const events = record();
  await client.get('/read');
  expect(events.filter((e) => e.channel === 'load' && e.phase === 'end')).toHaveLength(1);

  await cluster.instances[0].signal('SIGSTOP');
  cleanups.push(() => cluster.instances[0].signal('SIGCONT'));
  await client.get('/set');
  const failed = events.filter((e) => e.channel === 'storage' && e.phase === 'error');
  expect(failed.length).toBeGreaterThan(0);
  expect((failed[0].context.error as Error).name).toMatch(/DeadlineError|NodeDownError|NodeConnectionError/);
});
