/**
 * Which errors count against a memcached node's health, against real memcached: only a failed
 * connection or a missed deadline; an error caused by a request's data never does. And a node
 * that answers again after missed deadlines serves every call.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StorageCluster } from '../../src/failover/cluster.js';
import { storageClusterFor } from '../../src/backend.js';
import { resolveManagerSettings } from '../../src/options.js';
import { Statistics } from '../../src/base/statistics.js';
import { freePort, startMemcached, type MemcachedInstance } from '../helpers/memcached.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const quiet = { info() {}, warn() {}, error() {} };
let memcached: MemcachedInstance;
let cluster: StorageCluster;
beforeEach(async () => {
  memcached = await startMemcached();
  cluster = storageClusterFor(resolveManagerSettings({ secret: 'it', memcachedNodes: `n1:${memcached.host}:${memcached.port}` })!, new Statistics(true), quiet);
});
afterEach(async () => {
  cluster.close();
  await memcached.stop();
});

/** Runs `op` 10 times through the breaker (3 failures in a row mark a node down), expecting each to fail. */
async function failTenTimes(op: Parameters<StorageCluster['run']>[1]): Promise<unknown> {
  let last: unknown;
  for (let i = 0; i < 10; i++) last = await cluster.run('n1', op).then(() => expect.fail('should have failed'), (err: unknown) => err);
  return last;
}

describe('errors caused by a request leave the node up', () => {
  it('a key that does not fit the protocol (RangeError thrown while building the request)', async () => {
    expect(await failTenTimes((client) => client.set('k'.repeat(70_000), 'v', 0))).toBeInstanceOf(RangeError);
    expect(cluster.nodeStates()).toEqual({ n1: true });
    await cluster.run('n1', (client) => client.set('k', 'v', 0));
  });

  it('a client-side exception thrown by the operation itself', async () => {
    expect(
      await failTenTimes(() => {
        throw new TypeError('cannot read properties of undefined');
      }),
    ).toBeInstanceOf(TypeError);
    expect(cluster.nodeStates()).toEqual({ n1: true });
  });

  it('a value larger than memcached accepts (E2BIG answered)', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    expect(String(await failTenTimes((client) => client.set('big', big, 0)))).toMatch(/Value too large/);
    expect(cluster.nodeStates()).toEqual({ n1: true });
    expect(await cluster.run('n1', (client) => client.add('small', 'v', 0))).toBe(true);
  });
});

describe('failures of the node count', () => {
  it('a refused connection marks the node down at once: nothing listens there', async () => {
    const closed = storageClusterFor(resolveManagerSettings({ secret: 'it', memcachedNodes: `n1:127.0.0.1:${await freePort()}`, operationTimeout: 500 })!, new Statistics(true), quiet);
    try {
      await closed.run('n1', (client) => client.get('k')).catch((err: unknown) => err);
      expect(closed.nodeStates()).toEqual({ n1: false });
    } finally {
      closed.close();
    }
  });
});

describe('a node that starts behind a proxy that holds connections (docker-proxy)', () => {
  it('serves every call once it answers, after a health check missed its deadline on a held connection', async () => {
    const proxy = new TcpProxy(memcached.host, memcached.port);
    await proxy.start();
    // The deadline as long as the health-check interval, as in the chaos tests.
    const behind = storageClusterFor(resolveManagerSettings({ secret: 'it', memcachedNodes: `n1:127.0.0.1:${proxy.port}`, operationTimeout: 500 })!, new Statistics(true), quiet);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await behind.run('n1', (client) => client.set('k', 'v', 0));
      // The node dies (connections accepted, then closed: it is marked down), then starts
      // (connections accepted and held: a health check misses its deadline), then answers.
      proxy.block();
      for (let i = 0; i < 3; i++) await behind.run('n1', (client) => client.get('k')).catch(() => undefined);
      expect(behind.nodeStates()).toEqual({ n1: false });
      proxy.hold();
      await sleep(1200);
      proxy.unblock();
      for (let waited = 0; !behind.nodeStates().n1 && waited < 3000; waited += 50) await sleep(50);
      expect(behind.nodeStates()).toEqual({ n1: true });
      // A busy app: calls always in flight, overlapping the health checks.
      const failures: string[] = [];
      const busy = async () => {
        for (const started = Date.now(); Date.now() - started < 1500; ) {
          await behind.run('n1', (client) => client.get('k')).catch((err: unknown) => failures.push(String(err)));
        }
      };
      await Promise.all(Array.from({ length: 5 }, busy));
      expect(failures).toEqual([]);
      expect(behind.nodeStates()).toEqual({ n1: true });
    } finally {
      behind.close();
      await proxy.stop();
    }
  });
});
