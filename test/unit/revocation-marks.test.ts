/**
 * Strict sticky reads check revocation tokens: a read whose nodes' tokens are unchanged keeps the
 * mark it came with (the same object, not a new one per read), and any tombstone written to one
 * of its nodes still sends the check to the tombstones. Against two embedded memcached servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { resolveManagerSettings } from '../../src/manager/options.js';
import { Statistics } from '../../src/manager/statistics.js';
import { MemcachedCluster } from '../../src/failover/cluster.js';
import { Revocations } from '../../src/sticky/revocations.js';

const quiet = { info() {}, warn() {}, error() {} };
const servers: EmbeddedMemcached[] = [];
let cluster: MemcachedCluster;
let revocations: Revocations;

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const server = new EmbeddedMemcached({ itemSizeLimit: 1024 * 1024 });
    await server.listen();
    servers.push(server);
  }
  const settings = resolveManagerSettings({ secret: 'it', memcachedNodes: servers.map((s, i) => `n${i + 1}:127.0.0.1:${s.port}`).join(',') })!;
  const stats = new Statistics(false);
  cluster = new MemcachedCluster(settings, stats, quiet);
  revocations = new Revocations(cluster, stats, settings.sealing, 1000);
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
