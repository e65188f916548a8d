import { afterEach, beforeEach } from 'vitest';
import { startApp, type AppProcess } from './app-process.js';
import { freePort } from './memcached.js';
import { PeerNode } from '../../src/storage/peers/peer-node.js';
import { PeerConnection } from '../../src/storage/peers/peer-connection.js';
import { linkKey } from '../../src/storage/peers/peer-channel.js';
import { sealingOf } from './sealed.js';

/** The fixture app's secret (test/fixtures/app-node.mjs). */
const SECRET = 'test secret';

/**
 * For each test of the calling file: `count` peer addresses (ids a, b, c, …) on fresh ports, and
 * app processes replicating to each other over them (`scope.start('a', options)` runs peer a).
 * `scope.holders(sessionId)` asks every peer's endpoint, as a peer would, which ones hold a copy.
 */
export function peersPerTest(count: number) {
  const ids = 'abcdefgh'.slice(0, count).split('');
  const scope = {
    peers: '',
    ports: new Map<string, number>(),
    apps: [] as AppProcess[],
    async start(self: string, options: Record<string, unknown> = {}): Promise<AppProcess> {
      const app = await startApp(self, { peers: scope.peers, self, ...options });
      scope.apps.push(app);
      return app;
    },
    /** Waits until every app in `apps` sees every peer in `expected` as up (peers start one after another). */
    async settle(apps: AppProcess[], expected: string[] = ids): Promise<void> {
      for (let i = 0; i < 200; i++) {
        const views = await Promise.all(apps.map((app) => fetch(`${app.url}/nodes`).then((r) => r.json() as Promise<Record<string, boolean>>)));
        if (views.every((view) => expected.every((id) => view[id]))) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the peers never all saw each other up');
    },
    /** The peers whose store holds a copy of session `id` (asked over their endpoints; a dead peer holds none). */
    holders(id: string): Promise<string[]> {
      return scope.holdersOfKey(sealingOf(SECRET).sessionKey(id));
    },
    /** The peers whose store holds an item under the stored key `key`. */
    async holdersOfKey(key: string): Promise<string[]> {
      const found = await Promise.all(
        ids.map(async (peer) => {
          const node = new PeerNode(peer, new PeerConnection({ id: peer, host: '127.0.0.1', port: scope.ports.get(peer)! }, linkKey(SECRET), { operationTimeout: 500, maxBody: 2 << 20 }), 1 << 20);
          try {
            return (await node.get(key)) !== null;
          } catch {
            return false;
          } finally {
            node.close();
          }
        }),
      );
      return ids.filter((_, i) => found[i]);
    },
  };
  beforeEach(async () => {
    scope.ports = new Map();
    for (const id of ids) scope.ports.set(id, await freePort());
    scope.peers = ids.map((id) => `${id}:127.0.0.1:${scope.ports.get(id)}`).join(',');
  });
  afterEach(async () => {
    while (scope.apps.length) await scope.apps.pop()!.kill();
  });
  return scope;
}
