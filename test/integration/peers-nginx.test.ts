/**
 * Replication between app processes behind real nginx, sticky by the route in the session cookie
 * (the configuration src/demo/nginx-config.ts generates): the app serving a user is SIGKILLed
 * while its users keep working; nginx moves them to a live app, which takes each session over
 * from its peer copy. With synchronous replication no acknowledged change is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nginxConfig } from '../../src/demo/nginx-config.js';
import { peersPerTest } from '../helpers/peer-apps.js';
import { runNginx, standalone } from '../helpers/nginx.js';
import { Client } from '../helpers/http.js';
import { missingPackage } from '../helpers/system-programs.js';

const scope = peersPerTest(3);
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const USERS = 30;
const routeOf = (client: Client) => /\.([a-c])\./.exec(decodeURIComponent(client.cookie ?? ''))?.[1];

interface Reply {
  node: string;
  data: { count?: number };
}

/** One user incrementing its counter: every answer must come (nginx retries elsewhere) and count up from the last one acknowledged. */
class User {
  readonly client: Client;
  acknowledged = 0;
  constructor(url: string) {
    this.client = new Client(url);
  }

  async inc(): Promise<Reply> {
    const reply = await this.client.json<Reply>('/inc');
    // Higher by more than one only if a request was applied and its answer lost with the app (nginx re-sent it).
    expect(reply.data.count).toBeGreaterThan(this.acknowledged);
    this.acknowledged = reply.data.count!;
    return reply;
  }
}

describe.skipIf(missingPackage('nginx')).each(['backup', 'all'] as const)('peers behind nginx (replication: %s)', (replication) => {
  it('a user keeps its session through nginx while the app serving it is SIGKILLed', async () => {
    const options = { replication, sessionBackupAsync: false };
    const apps = new Map<string, Awaited<ReturnType<typeof scope.start>>>();
    for (const id of ['a', 'b', 'c']) apps.set(id, await scope.start(id, { ...options, route: id }));
    await scope.settle([...apps.values()]);
    const upstreams = [...apps].map(([route, app]) => ({ route, address: app.url.replace('http://', '') }));
    const url = await runNginx((listen, prefix) => nginxConfig({ apps: upstreams, sticky: 'route', listen, standalone: standalone(prefix) }), cleanups);

    const users = Array.from({ length: USERS }, () => new User(url));
    // Before: each user is served by the app its cookie names.
    await Promise.all(
      users.map(async (user) => {
        for (let i = 0; i < 3; i++) expect((await user.inc()).node).toBe(routeOf(user.client));
      }),
    );
    const onVictim = users.filter((user) => routeOf(user.client) === 'a');
    expect(onVictim.length).toBeGreaterThan(0);

    // During: a dies while every user keeps incrementing; each goes on until it has made three requests after the kill.
    let killed = false;
    const working = Promise.all(
      users.map(async (user) => {
        for (let after = 0; after < 3; ) {
          const sentAfterKill = killed;
          const reply = await user.inc();
          if (sentAfterKill) {
            expect(reply.node).not.toBe('a');
            after++;
          }
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    await apps.get('a')!.kill('SIGKILL');
    killed = true;
    await working;

    // After: the moved users carry a live app's route, are served there, and lost nothing acknowledged.
    for (const user of users) {
      const route = routeOf(user.client)!;
      expect(['b', 'c']).toContain(route);
      for (let i = 0; i < 2; i++) expect((await user.inc()).node).toBe(route);
      expect((await user.client.json<Reply>('/read')).data.count).toBe(user.acknowledged);
    }
    const stats = await Promise.all(['b', 'c'].map(async (id) => (await (await fetch(`${apps.get(id)!.url}/stats`)).json()) as { counters: Record<string, number> }));
    expect(stats.reduce((sum, s) => sum + (s.counters.takeovers ?? 0), 0)).toBe(onVictim.length);
  });
});
