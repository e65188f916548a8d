/**
 * Failover behaviour that the chaos load cannot show on its own: idle sessions (nobody
 * requests them, so only background relocation can save them), MSM issue #153, failoverNodes,
 * all nodes down, and health changes logged once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import session from '../../src/index.js';
import { startCluster, textCommand, totalStat } from '../helpers/memcached.js';
import { startApp, type AppProcess } from '../helpers/app-process.js';
import { Client, serve } from '../helpers/http.js';
import { sealingOf } from '../helpers/sealed.js';

let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
const apps: AppProcess[] = [];
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
  while (apps.length) await apps.pop()!.kill();
  await cluster?.stop();
  cluster = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An in-process app with its own middleware (so tests can read its statistics and logs). */
async function inProcessApp(options: Record<string, unknown>) {
  const logs: string[] = [];
  // Structured events come as (fields, message): keep the message text.
  const record = (...args: unknown[]) => logs.push(args.filter((a) => typeof a === 'string').join(' '));
  const logger = { info: record, warn: record, error: record };
  const middleware = session({ secret: 'test secret', resave: false, saveUninitialized: false, logger, ...options } as never);
  const server = await serve((req, res) => {
    middleware(req, res, (err) => {
      res.setHeader('content-type', 'application/json');
      if (err) {
        res.statusCode = (err as { status?: number }).status ?? 500;
        return res.end(JSON.stringify({ error: (err as Error).message }));
      }
      const s = (req as http.IncomingMessage & { session: Record<string, unknown> }).session;
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/set') for (const [k, v] of url.searchParams) s[k] = v;
      if (url.pathname === '/nosession') return res.end('{"ok":true}');
      res.end(JSON.stringify({ id: (req as { sessionID?: string }).sessionID, data: { ...s, cookie: undefined } }));
    });
  });
  closers.push(() => middleware.close(), server.close);
  return { url: server.url, middleware, logs };
}

async function settle(middleware: { statistics(): { gauges: Record<string, number>; counters: Record<string, number> } }, ms = 2500) {
  // Health checks run every 500 ms and relocation follows at once; give them time.
  await sleep(ms);
  return middleware.statistics();
}

/** Each client's session still holds the `n` it was given. */
async function expectEveryClientReadsItsN(clients: Client[]) {
  for (const [i, c] of clients.entries()) {
    const reply = await c.get('/read');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body).data.n).toBe(String(i));
  }
}

describe('idle sessions survive a node restarting empty and then another failing (MSM #267)', () => {
  it('non-sticky: relocation refills the restarted node before the second failure', async () => {
    cluster = await startCluster(3);
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, sticky: false, operationTimeout: 300 });
    const clients = Array.from({ length: 60 }, () => new Client(app.url));
    for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}`);
    await sleep(600); // the first health check has seen every node
    await cluster.instances[0].restart();
    const stats = await settle(app.middleware);
    expect(stats.counters.nodeRestarts + stats.counters.nodesMarkedUp).toBeGreaterThanOrEqual(1);
    expect(stats.counters.replicaRepairs).toBeGreaterThan(0);
    await cluster.instances[1].signal('SIGKILL');
    await expectEveryClientReadsItsN(clients);
  }, 30_000);

  it('non-sticky: after a node dies, relocation copies the sessions it held to the next node before a second dies', async () => {
    cluster = await startCluster(4);
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, sticky: false, operationTimeout: 300 });
    const clients = Array.from({ length: 60 }, () => new Client(app.url));
    for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}`);
    await cluster.instances[0].signal('SIGKILL');
    for (let i = 0; i < 100 && (app.middleware.nodes().n1 || app.middleware.statistics().gauges.relocationsPending > 0); i++) await sleep(50);
    const stats = app.middleware.statistics();
    expect(stats.gauges.relocationsPending).toBe(0);
    // Only the sessions with n1 among their three home nodes (about three quarters of them, with
    // four nodes) were looked at: a copy may have been there.
    expect(stats.counters.relocations).toBeGreaterThan(20);
    expect(stats.counters.relocations).toBeLessThan(60);
    await cluster.instances[1].signal('SIGKILL');
    await settle(app.middleware, 1000);
    // A session with n1 and n2 among its three home nodes has one of them left: it answers 503
    // (no process may trust one home node: the newest copy may be on the other two) until a lost
    // node returns; every other session reads as before.
    const replies = await Promise.all(clients.map((c) => c.get('/read')));
    const unavailable = replies.filter((r) => r.status === 503).length;
    expect(unavailable).toBeGreaterThan(0);
    expect(unavailable).toBeLessThan(clients.length);
    replies.forEach((reply, i) => reply.status === 200 && expect(JSON.parse(reply.body).data.n).toBe(String(i)));
    await cluster.instances[0].restart();
    await settle(app.middleware, 1500);
    await expectEveryClientReadsItsN(clients);
  }, 30_000);

  // Quick: each node's return is seen as a restart. Slow: each is seen down first, then back (as a
  // new process, empty): the owner must treat both the same.
  for (const downFor of [0, 1200]) {
    it(`sticky: the owner re-backs up its sessions, so they survive its own death afterwards (${downFor ? 'seen down, then back' : 'seen restarted'})`, async () => {
      cluster = await startCluster(3);
      const options = { memcachedNodes: cluster.nodes, operationTimeout: 300, sessionBackupAsync: false };
      const owner = await startApp('a', { ...options, route: 'a' });
      const heir = await startApp('b', { ...options, route: 'b' });
      apps.push(owner, heir);
      const clients = Array.from({ length: 60 }, () => new Client(owner.url));
      for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}`);
      await sleep(600);
      // Every node restarts empty, one after the other: without relocation some backups are gone.
      for (const m of cluster.instances) {
        if (downFor) {
          await m.signal('SIGKILL');
          await sleep(downFor);
        }
        await m.restart();
        await ownerSettled(owner);
      }
      await owner.kill('SIGKILL');
      for (const [i, c] of clients.entries()) {
        c.moveTo(heir.url);
        const reply = await c.get('/read');
        expect(JSON.parse(reply.body).data.n).toBe(String(i));
      }
    }, 40_000);
  }
});

/** Waits until an app process has seen every node up and has no relocation left to do. */
async function ownerSettled(app: AppProcess): Promise<void> {
  await sleep(1000); // a health check round has seen the change
  for (let i = 0; i < 100; i++) {
    const stats = JSON.parse((await new Client(app.url).get('/stats')).body) as { gauges: Record<string, number> };
    const down = Object.entries(stats.gauges).some(([name, value]) => name.startsWith('nodeUp.') && value === 0);
    if (!down && stats.gauges.relocationsPending === 0) return;
    await sleep(100);
  }
  throw new Error('the app did not settle within 10 s');
}

describe('a non-sticky write that misses one of its two nodes', () => {
  it('puts that copy on the next node: the acknowledged version survives losing both usual nodes', async () => {
    cluster = await startCluster(3);
    const { instances } = cluster;
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, sticky: false, operationTimeout: 300 });
    const client = new Client(app.url);
    const id = JSON.parse((await client.get('/set?v=1')).body).id as string;
    const held = await Promise.all(instances.map(async (m) => (await textCommand(m.host, m.port, `get ${sealingOf('test secret').sessionKey(id)}\r\n`)).startsWith('VALUE')));
    const [a, b] = held.flatMap((yes, i) => (yes ? [i] : []));
    expect(held.filter(Boolean)).toHaveLength(2);
    const nodeId = (i: number) => `n${i + 1}`;
    // A dies; the next write fails there fast (2 failures: not yet marked down), so the write
    // reaches only B, and only the spare copy on the third node can save it from losing B next.
    await instances[a].signal('SIGKILL');
    expect(app.middleware.nodes()[nodeId(a)]).toBe(true);
    const write = await client.get('/set?v=2');
    expect(write.status).toBe(200);
    await instances[b].signal('SIGKILL');
    await instances[a].restart();
    for (let i = 0; i < 100; i++) {
      const nodes = app.middleware.nodes();
      if (nodes[nodeId(a)] && !nodes[nodeId(b)]) break;
      await sleep(50);
    }
    expect(app.middleware.nodes()).toMatchObject({ [nodeId(a)]: true, [nodeId(b)]: false });
    const read = await client.get('/read');
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).data.v).toBe('2');
  });
});

describe('app-node failover (sticky)', () => {
  it('a node that comes back never serves its older local copy (MSM #153)', async () => {
    cluster = await startCluster(2);
    const a = await inProcessApp({ memcachedNodes: cluster.nodes, route: 'a', sessionBackupAsync: false });
    const b = await inProcessApp({ memcachedNodes: cluster.nodes, route: 'b', sessionBackupAsync: false });
    const client = new Client(a.url);
    await client.get('/set?cart=1');
    // The load balancer loses sight of A and sends the user to B, which takes over and updates.
    client.moveTo(b.url);
    await client.get('/set?cart=2');
    expect(JSON.parse((await client.get('/read')).body).id).toMatch(/\.b$/);
    // A is back (it still holds cart=1 in memory) and the user lands there again.
    client.moveTo(a.url);
    const reply = JSON.parse((await client.get('/read')).body);
    expect(reply.data.cart).toBe('2');
    expect(reply.id).toMatch(/\.a$/);
  });

  it('without a route, a takeover still gives the session a new id, for the same reason', async () => {
    cluster = await startCluster(2);
    const a = await inProcessApp({ memcachedNodes: cluster.nodes, sessionBackupAsync: false });
    const b = await inProcessApp({ memcachedNodes: cluster.nodes, sessionBackupAsync: false });
    const client = new Client(a.url);
    await client.get('/set?cart=1');
    const before = client.cookie;
    client.moveTo(b.url);
    await client.get('/set?cart=2');
    expect(client.cookie).not.toBe(before);
    client.moveTo(a.url);
    expect(JSON.parse((await client.get('/read')).body).data.cart).toBe('2');
  });
});

describe('node health', () => {
  it('failoverNodes are used only when no other node is up', async () => {
    cluster = await startCluster(3);
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, failoverNodes: 'n1', operationTimeout: 300 });
    const clients = Array.from({ length: 30 }, () => new Client(app.url));
    for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}`);
    await sleep(100);
    expect((await cluster.instances[0].stats()).curr_items).toBe(0);
    await cluster.instances[1].signal('SIGKILL');
    await cluster.instances[2].signal('SIGKILL');
    await settle(app.middleware);
    expect(app.middleware.nodes()).toEqual({ n1: true, n2: false, n3: false });
    // Relocation moved every session's backup to the failover node.
    expect((await cluster.instances[0].stats()).curr_items).toBe(30);
  });

  it('logs a node going down once, not per request, and brings it back without a restart', async () => {
    cluster = await startCluster(2);
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, operationTimeout: 300 });
    const clients = Array.from({ length: 20 }, () => new Client(app.url));
    await cluster.instances[1].signal('SIGSTOP');
    for (let round = 0; round < 3; round++) for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}-${round}`);
    await settle(app.middleware, 1500);
    const downs = app.logs.filter((l) => /n2 is down/.test(l)).length;
    expect(downs).toBeGreaterThanOrEqual(1);
    await cluster.instances[1].signal('SIGCONT');
    const stats = await settle(app.middleware, 1500);
    // One line per state change (each also counted), never one per request: 60 requests hit the node while it hung.
    expect(app.logs.filter((l) => /n2 is down/.test(l)).length).toBe(stats.counters.nodesMarkedDown);
    expect(app.logs.filter((l) => /n2 is up/.test(l)).length).toBe(stats.counters.nodesMarkedUp);
    expect(stats.counters.nodesMarkedDown).toBeLessThanOrEqual(2);
    expect(app.logs.filter((l) => /backup to memcached node n2 failed/.test(l)).length).toBeLessThanOrEqual(1);
    expect(app.middleware.nodes()).toEqual({ n1: true, n2: true });
    expect(app.middleware.statistics().gauges['nodeUp.n2']).toBe(1);
  });

  it('a stall shorter than two deadlines (a loaded machine) does not mark a node down, however many calls were queued on it', async () => {
    cluster = await startCluster(2);
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, operationTimeout: 300 });
    const clients = Array.from({ length: 12 }, () => new Client(app.url));
    for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}`);
    await cluster.instances[1].signal('SIGSTOP');
    // Calls queue on the stalled node; when the first misses its deadline the connection is
    // dropped, failing them all with that one error.
    const requests = clients.map((c, i) => c.get(`/set?n=${i}-again`));
    await sleep(330);
    await cluster.instances[1].signal('SIGCONT');
    await Promise.all(requests);
    const stats = await settle(app.middleware, 1000);
    expect(app.logs.filter((l) => /n2 is down/.test(l))).toEqual([]);
    expect(stats.counters.nodesMarkedDown).toBe(0);
  });

  it('non-sticky with every node down: clear 503 for session requests, others work, recovery without restart', async () => {
    cluster = await startCluster(2);
    const app = await inProcessApp({ memcachedNodes: cluster.nodes, sticky: false, operationTimeout: 300 });
    const client = new Client(app.url);
    await client.get('/set?user=ada');
    await Promise.all(cluster.instances.map((m) => m.signal('SIGSTOP')));
    try {
      const failed = await client.get('/read');
      expect(failed.status).toBe(503);
      expect(JSON.parse(failed.body).error).toMatch(/session store unavailable/);
      const anonymous = await new Client(app.url).get('/nosession');
      expect(anonymous.status).toBe(200);
    } finally {
      await Promise.all(cluster.instances.map((m) => m.signal('SIGCONT')));
    }
    await settle(app.middleware, 1500);
    expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada');
    expect(await totalStat(cluster.instances, 'curr_items')).toBe(2);
  });
});
