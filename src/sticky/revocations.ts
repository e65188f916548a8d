import { createHash } from 'node:crypto';
import type { MemcachedCluster } from '../failover/cluster.js';
import type { Statistics } from '../manager/statistics.js';
import { memcachedExpiration } from '../memcached/expiration.js';

/** Nodes that hold each tombstone: two, so one node that is down or restarted empty loses none. */
const TOMBSTONE_NODES = 2;

/** What a check found: revoked, not revoked, or unknown (a tombstone node did not answer, none had one). */
export type RevocationState = 'revoked' | 'valid' | 'unknown';

interface PendingCheck {
  key: string;
  resolve: (state: RevocationState) => void;
}

/**
 * Revocation tombstones for sticky mode: a session id destroyed, regenerated or taken over
 * (renamed) gets a small `<prefix>revoked:<sha256(id)>` item, so no process serves the id from
 * its memory afterwards. Tombstones go to the first nodes of the key's order on the FULL ring,
 * not on this process's view of which nodes are up: processes may disagree about health, and
 * must still look in the same places. Checks made in one event-loop turn are batched: one
 * pipelined round trip per node, whatever the number of requests.
 */
export class Revocations {
  private pending: PendingCheck[] = [];

  constructor(
    private readonly cluster: MemcachedCluster,
    private readonly stats: Statistics,
    private readonly prefix: string,
  ) {}

  /** The tombstone key: fixed length (hashed id), so every id has a valid one. */
  private key(id: string): string {
    return `${this.prefix}revoked:${createHash('sha256').update(id).digest('base64url')}`;
  }

  private nodesFor(key: string): string[] {
    return this.cluster.preference(key).slice(0, TOMBSTONE_NODES);
  }

  /**
   * Writes the tombstone of `id`, living `ttlSeconds` (0: until memcached evicts it). Resolves
   * once every tombstone node answered or missed its deadline; true when at least one holds it.
   */
  async revoke(id: string, ttlSeconds: number): Promise<boolean> {
    const key = this.key(id);
    const expiration = memcachedExpiration(ttlSeconds);
    const answers = await Promise.allSettled(
      this.nodesFor(key).map((node) => this.cluster.run(node, (client) => client.set(key, '1', expiration))),
    );
    this.stats.inc('revocations');
    return answers.some((answer) => answer.status === 'fulfilled');
  }

  /** Whether `id` was revoked; checks made in the same event-loop turn share one round trip per node. */
  check(id: string): Promise<RevocationState> {
    this.stats.inc('revocationChecks');
    return new Promise((resolve) => {
      if (this.pending.length === 0) setImmediate(() => void this.flush());
      this.pending.push({ key: this.key(id), resolve });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const byNode = new Map<string, Set<string>>();
    for (const { key } of batch) {
      for (const node of this.nodesFor(key)) {
        if (!byNode.has(node)) byNode.set(node, new Set());
        byNode.get(node)!.add(key);
      }
    }
    const found = new Set<string>();
    // A key one of whose nodes did not answer may have its only tombstone there.
    const unanswered = new Set<string>();
    await Promise.allSettled(
      [...byNode].map(async ([node, keys]) => {
        const list = [...keys];
        try {
          // memjs has no multi-get: gets issued together are pipelined on the node's one connection.
          const values = await this.cluster.run(node, (client) => Promise.all(list.map((key) => client.get(key))));
          list.forEach((key, i) => values[i] !== null && found.add(key));
        } catch {
          for (const key of list) unanswered.add(key);
        }
      }),
    );
    for (const { key, resolve } of batch) {
      resolve(found.has(key) ? 'revoked' : unanswered.has(key) ? 'unknown' : 'valid');
    }
  }
}
