/**
 * Strict sticky reads check revocation tokens: a read whose nodes' tokens are unchanged keeps the
 * mark it came with (the same object, not a new one per read), and any tombstone written to one
 * of its nodes still sends the check to the tombstones; after both nodes lost their data, a node
 * whose token this turn did not read counts as possibly emptied. Against two embedded memcached servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { resolveManagerSettings } from '../../src/options.js';
import { Statistics } from '../../src/base/statistics.js';
import type { StorageCluster } from '../../src/failover/cluster.js';
import { storageClusterFor } from '../../src/backend.js';
import { Revocations } from '../../src/revocation/revocations.js';
import type { StorageNode } from '../../src/storage/storage-node.js';

const quiet = { info() {}, warn() {}, error() {} };
const servers: EmbeddedMemcached[] = [];
let cluster: StorageCluster;
let revocations: Revocations;
let settings: NonNullable<ReturnType<typeof resolveManagerSettings>>;

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const server = new EmbeddedMemcached({ itemSizeLimit: 1024 * 1024 });
    await server.listen();
    servers.push(server);
  }
  settings = resolveManagerSettings({ secret: 'it', memcachedNodes: servers.map((s, i) => `n${i + 1}:127.0.0.1:${s.port}`).join(',') })!;
  const stats = new Statistics(false);
  cluster = storageClusterFor(settings, stats, quiet);
  revocations = new Revocations(cluster, stats, settings.sealing, 1000, 1000);
});
afterAll(async () => {
  cluster.close();
  for (const s of servers) await s.close();
});

describe('revocation marks', () => {
  it('an unchanged check keeps its mark; a tombstone anywhere on its nodes is looked at', async () => {
    const first = await revocations.check('alice');
    expect(first.state).toBe('valid');
    expect(first.mark).toBeDefined();
    // Several reads with nothing revoked: the same mark object each time.
    const again = await Promise.all([revocations.check('alice', first.mark), revocations.check('alice', first.mark)]);
    for (const check of again) {
      expect(check.state).toBe('valid');
      expect(check.mark).toBe(first.mark);
    }
    // Another id revoked on the same two nodes: tokens change, alice is still valid under a new mark.
    expect(await revocations.revoke('bob', 60)).toBe(true);
    const afterBob = await revocations.check('alice', first.mark);
    expect(afterBob.state).toBe('valid');
    expect(afterBob.mark).not.toBe(first.mark);
    expect(afterBob.mark?.tokens).not.toEqual(first.mark?.tokens);
    // Alice revoked: a check with her last mark finds the tombstone.
    expect(await revocations.revoke('alice', 60)).toBe(true);
    const revoked = await revocations.check('alice', afterBob.mark);
    expect(revoked.state).toBe('revoked');
    expect(revoked.mark).toBeUndefined();
  });
});

/** Another process's view of the same nodes whose client calls to n1 go through `n1` first (null: the real call). */
function withN1(n1: (client: StorageNode, method: string, args: unknown[]) => Promise<unknown> | null): Revocations {
  const view = Object.create(cluster) as StorageCluster;
  view.run = (node, op) =>
    cluster.run(node, (client) =>
      op(
        node !== 'n1'
          ? client
          : new Proxy(client, {
              get(target, prop) {
                const real = Reflect.get(target, prop, target) as unknown;
                if (typeof real !== 'function') return real;
                return (...args: unknown[]) => n1(target, String(prop), args) ?? (real as (...a: unknown[]) => unknown).apply(target, args);
              },
            }),
      ),
    );
  return new Revocations(view, new Statistics(false), settings.sealing, 1000, 1000);
}

const tokenKey = () => `${settings.sealing.prefix}revoked:token`;

/**
 * `id` found valid (marked) through `view`, then revoked, then both nodes lose their data
 * (restarted empty: their tokens and its tombstone); `fault` starts, and `id` is checked again.
 */
async function checkAfterBothEmptied(view: Revocations, id: string, fault: () => void) {
  const first = await view.check(id);
  expect(first.state).toBe('valid');
  expect(first.mark).toBeDefined();
  expect(await view.revoke(id, 60)).toBe(true);
  for (const node of ['n1', 'n2']) {
    await cluster.run(node, async (client) => {
      await client.delete(tokenKey());
      await client.delete(settings.sealing.tombstoneKey(id));
    });
  }
  fault();
  return { first, after: await view.check(id, first.mark) };
}

describe('revocation marks after both nodes lose their data', () => {
  it('a node whose token read fails while its tombstone read answers may have lost its data too: lost, mark kept', async () => {
    let failTokenRead = false;
    const view = withN1((_client, method, args) => (failTokenRead && method === 'get' && args[0] === tokenKey() ? Promise.reject(new Error('token read failed')) : null));
    const { first, after } = await checkAfterBothEmptied(view, 'carol', () => (failTokenRead = true));
    // n2 came back with another epoch and n1 could not say: the tombstone may be gone from both.
    expect(after.state).toBe('lost');
    // Without n1's token no new mark can be made: the old one is kept, so the loss is seen again next time.
    expect(after.mark).toBe(first.mark);
  });

  it('a node found without a token that another process gave one first lost its data: lost', async () => {
    let race = false;
    const view = withN1((client, method, args) => {
      if (!race || method !== 'add' || args[0] !== tokenKey()) return null;
      // Another process adds its token between this one's get (none) and its add (refused).
      return client.add(tokenKey(), settings.sealing.seal(tokenKey(), 'other.epoch'), 0).then(() => client.add(tokenKey(), args[1] as Buffer, 0));
    });
    const { after } = await checkAfterBothEmptied(view, 'dave', () => (race = true));
    expect(after.state).toBe('lost');
  });
});

describe('a revocation whose token writes fail once', () => {
  it('writes each node again before reporting failure (a tombstone without its token would revoke the id anyway)', async () => {
    const { DeadlineError } = await import('../../src/base/deadline.js');
    const failed = new Set<string>();
    // Both nodes miss the deadline of their first token write, after the tombstone landed.
    const view = Object.create(cluster) as StorageCluster;
    view.run = (node, op) =>
      cluster.run(node, (client) =>
        op(
          new Proxy(client, {
            get(target, prop) {
              const real = Reflect.get(target, prop, target) as unknown;
              if (typeof real !== 'function') return real;
              return (...args: unknown[]) => {
                if (prop === 'storeIf' && args[0] === tokenKey() && !failed.has(node)) {
                  failed.add(node);
                  return Promise.reject(new DeadlineError(`${node} storeIf`, 1000));
                }
                return (real as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          }),
        ),
      );
    const revoker = new Revocations(view, new Statistics(false), settings.sealing, 1000, 1000);
    const before = await revocations.check('erin');
    expect(await revoker.revoke('erin', 60)).toBe(true);
    expect(failed).toEqual(new Set(['n1', 'n2']));
    // Announced: a process that found erin valid sees the revocation through its changed tokens.
    expect((await revocations.check('erin', before.mark)).state).toBe('revoked');
  });
});
