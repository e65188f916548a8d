/**
 * What a machine with only Node gets from the demo: the embedded memcached-compatible server
 * and the built-in sticky balancer, in both modes, with app and memcached nodes killed; or no
 * memcached at all, the app nodes replicating to each other (`--backend peers`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DemoCluster } from '../../dist/esm/demo/supervisor.js';
import { freePort } from '../helpers/memcached.js';
import { routeFromCookie } from '../../src/demo/builtin-balancer.js';
import { missingPackage } from '../helpers/system-programs.js';

let cluster: DemoCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

interface State {
  servedBy: string;
  session: { user: string | null; cart: string[] };
  copies: string[];
  /** Each storage node's health as the serving app sees it (with peers: the app nodes). */
  memcached: Record<string, boolean>;
}

/** A browser stand-in: keeps the cookie, talks JSON. */
function user(base: string) {
  let cookie = '';
  const call = async (path: string, body?: unknown) => {
    const response = await fetch(base + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    for (const line of response.headers.getSetCookie()) cookie = line.split(';')[0];
    expect(response.headers.get('x-load-balancer')).toBe('builtin');
    return { status: response.status, json: (await response.json()) as State };
  };
  return { call, cookie: () => cookie };
}

/** Only Node (the embedded memcached-compatible server), and `--backend redis` (redis-server). */
const BACKENDS = [
  { title: 'demo with only Node', kind: 'memcached', servers: 'embedded memcached', options: { memcachedProvider: 'embedded' }, provider: 'embedded' },
  { title: 'demo over Redis', kind: 'redis', servers: 'redis-server', options: { backend: 'redis', memcachedProvider: 'auto' }, provider: 'redis-server' },
] as const;

for (const backend of BACKENDS) for (const mode of ['sticky', 'non-sticky'] as const) {
  describe(`${backend.title} (${mode})`, () => {
    it.skipIf(backend.kind === 'redis' && missingPackage('redis-server'))(`${backend.servers} + built-in balancer: the user survives an app and a ${backend.kind} node dying`, async () => {
      const printed: string[] = [];
      cluster = new DemoCluster({
        mode,
        lb: 'builtin',
        nginxSticky: 'route',
        apps: 3,
        memcached: 3,
        ...backend.options,
        port: await freePort(),
        host: '127.0.0.1',
        log: (line) => printed.push(line),
      });
      const url = (await cluster.start()).replace(/\/$/, '');
      expect(cluster.provider).toBe(backend.provider);
      const ada = user(url);
      await ada.call('/api/login', { name: 'Ada' });
      await ada.call('/api/cart', { item: 'boots' });
      const before = (await ada.call('/api/cart', { item: 'jacket' })).json;
      if (mode === 'sticky') {
        // The balancer follows the route in the cookie.
        expect(routeFromCookie(ada.cookie())).toBe(before.servedBy);
        for (let i = 0; i < 5; i++) expect((await ada.call('/api/state')).json.servedBy).toBe(before.servedBy);
      }
      const serving = cluster.apps.findIndex((a) => a.name === before.servedBy);
      await cluster.apps[serving].child!.kill('SIGKILL');
      const afterApp = await ada.call('/api/state');
      expect(afterApp.status, JSON.stringify(afterApp.json)).toBe(200);
      expect(afterApp.json.servedBy).not.toBe(before.servedBy);
      expect(afterApp.json.session).toMatchObject({ user: 'Ada', cart: ['boots', 'jacket'] });

      const holder = cluster.memcached.findIndex((m) => m.id === afterApp.json.copies[0]);
      await cluster.memcached[holder].child!.kill('SIGKILL');
      // Until the app nodes' health checks take the dead node out of their rings (the demo prints
      // it), a non-sticky request whose lock lives there fails.
      const down = `${backend.kind} ${cluster.memcached[holder].id} is down, seen by`;
      for (const until = Date.now() + 15_000; !printed.some((l) => l.startsWith(down)) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
      expect(printed.join('\n')).toContain(down);
      const afterMemcached = await ada.call('/api/cart', { item: 'pack' });
      expect(afterMemcached.status, JSON.stringify(afterMemcached.json)).toBe(200);
      expect(afterMemcached.json.session).toMatchObject({ user: 'Ada', cart: ['boots', 'jacket', 'pack'] });
    }, 60_000);
  });
}

/** Waits until every live app node sees exactly the live ones up (asked directly, not through the balancer). */
async function settled(demo: DemoCluster): Promise<void> {
  const live = demo.apps.filter((a) => a.child?.alive());
  for (let i = 0; i < 200; i++) {
    const views = await Promise.all(live.map(async (a) => ((await (await fetch(`http://127.0.0.1:${a.port}/api/state`)).json()) as State).memcached));
    if (views.every((view) => demo.apps.every((a) => view[a.name] === live.includes(a)))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the app nodes never agreed on which of them are up');
}

for (const replication of ['backup', 'all'] as const) {
  describe(`demo over peers (replication ${replication})`, () => {
    it('runs without memcached; the user survives the serving app node and then the copy holder dying', async () => {
      const printed: string[] = [];
      cluster = new DemoCluster({
        mode: 'sticky',
        lb: 'builtin',
        nginxSticky: 'route',
        apps: 3,
        memcached: 3,
        memcachedProvider: 'embedded',
        backend: 'peers',
        replication,
        port: await freePort(),
        host: '127.0.0.1',
        log: (line) => printed.push(line),
      });
      const url = (await cluster.start()).replace(/\/$/, '');
      expect(cluster.memcached).toEqual([]);
      expect(printed.join('\n')).toContain(`no memcached: the app nodes replicate sessions to each other (replication ${replication})`);
      const ada = user(url).call;
      await settled(cluster);
      await ada('/api/login', { name: 'Ada' });
      const before = (await ada('/api/cart', { item: 'boots' })).json;
      expect(before.copies).not.toContain(before.servedBy);
      expect(before.copies).toHaveLength(replication === 'all' ? 2 : 1);

      await cluster.apps.find((a) => a.name === before.servedBy)!.child!.kill('SIGKILL');
      const afterFirst = await ada('/api/state');
      expect(afterFirst.status, JSON.stringify(afterFirst.json)).toBe(200);
      expect(afterFirst.json.servedBy).not.toBe(before.servedBy);
      expect(afterFirst.json.session).toMatchObject({ user: 'Ada', cart: ['boots'] });
      await settled(cluster);
      const now = (await ada('/api/cart', { item: 'jacket' })).json;
      expect(now.copies).toHaveLength(1);

      // The app node holding the copy dies next: the node serving the user still holds the session.
      await cluster.apps.find((a) => a.name === now.copies[0])!.child!.kill('SIGKILL');
      const afterSecond = await ada('/api/state');
      expect(afterSecond.status, JSON.stringify(afterSecond.json)).toBe(200);
      expect(afterSecond.json.session).toMatchObject({ user: 'Ada', cart: ['boots', 'jacket'] });
    });
  });
}
