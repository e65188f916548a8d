/**
 * Sticky revocation checks by revocation token, against real memcached: an id found valid is
 * checked again by one token get per node (shared by every check of the turn) until a tombstone
 * is written to its nodes; with revocationCheckInterval, a token read by any check covers every
 * session for the interval.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import session from '../../src/index.js';
import { storageClusterFor } from '../../src/backend.js';
import { resolveManagerSettings } from '../../src/options.js';
import { Statistics } from '../../src/base/statistics.js';
import { Revocations } from '../../src/revocation/revocations.js';
import { startCluster, textCommand, totalStat } from '../helpers/memcached.js';
import { Client, serve } from '../helpers/http.js';

const quiet = { info() {}, warn() {}, error() {} };
let cluster: Awaited<ReturnType<typeof startCluster>>;
const cleanups: Array<() => Promise<void> | void> = [];
beforeEach(async () => {
  cluster = await startCluster(2);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  await cluster.stop();
});
const gets = () => totalStat(cluster.instances, 'cmd_get');

const settings = () => resolveManagerSettings({ secret: 'it', memcachedNodes: cluster.nodes })!;

function revocations(): Revocations {
  const stats = new Statistics(true);
  const memcached = storageClusterFor(settings(), stats, quiet);
  cleanups.push(() => memcached.close());
  return new Revocations(memcached, stats, settings().sealing, 1000, 1000);
}

describe('revocation tokens', () => {
  it('50 checks of ids found valid before cost one get per node; a tombstone is still found', async () => {
    const r = revocations();
    const ids = Array.from({ length: 50 }, (_, i) => `id-${i}`);
    const first = await Promise.all(ids.map((id) => r.check(id)));
    expect(first.every((c) => c.state === 'valid' && c.mark)).toBe(true);
    const g0 = await gets();
    const again = await Promise.all(ids.map((id, i) => r.check(id, first[i].mark)));
    expect(again.every((c) => c.state === 'valid')).toBe(true);
    expect((await gets()) - g0).toBe(2);
    // A revocation (by another process: its own Revocations) changes the tokens of its nodes.
    expect(await revocations().revoke('id-7', 60)).toBe(true);
    const third = await Promise.all(ids.map((id, i) => r.check(id, again[i].mark)));
    expect(third[7].state).toBe('revoked');
    expect(third.filter((c) => c.state === 'valid')).toHaveLength(49);
  });

  it('a node that lost its token (restarted, evicted) is asked for the tombstone again', async () => {
    const r = revocations();
    const { mark } = await r.check('id-x');
    await revocations().revoke('id-x', 60);
    // Both tokens gone after the tombstones were written (their nodes' tokens evicted, say).
    const tokenKey = `${settings().storageKeyPrefix}revoked:token`;
    for (const { host, port } of cluster.instances) expect(await textCommand(host, port, `delete ${tokenKey}\r\n`, '\r\n')).toBe('DELETED\r\n');
    const { state } = await r.check('id-x', mark);
    expect(state).toBe('revoked');
  });
});

describe('revocationCheckInterval', () => {
  async function app(options: Record<string, unknown>) {
    const middleware = session({
      secret: 'it',
      resave: false,
      saveUninitialized: false,
      memcachedNodes: cluster.nodes,
      sessionBackupAsync: false,
      logger: quiet,
      ...options,
    } as never);
    const server = await serve((req, res) => {
      middleware(req, res, () => {
        const r = req as http.IncomingMessage & { session: Record<string, unknown> };
        const url = new URL(req.url!, 'http://x');
        if (url.pathname === '/set') for (const [k, v] of url.searchParams) r.session[k] = v;
        res.end(JSON.stringify(r.session));
      });
    });
    cleanups.push(() => middleware.close(), () => server.close());
    return server.url;
  }

  it('a token read for any session within the interval spares every checked session its check', async () => {
    const url = await app({ revocationCheckInterval: 1000 });
    const [x, y] = [new Client(url), new Client(url)];
    await x.get('/set?user=x');
    await y.get('/set?user=y');
    await x.get('/read'); // first checks: tombstones asked for
    await y.get('/read');
    await new Promise((r) => setTimeout(r, 1100));
    await y.get('/read'); // the interval is over: checked again, which reads the tokens
    const g0 = await gets();
    // x was last checked over 1 s ago, but the tokens were read just now and are unchanged.
    for (let i = 0; i < 10; i++) expect(JSON.parse((await x.get('/read')).body).user).toBe('x');
    expect(await gets()).toBe(g0);
  });
});
