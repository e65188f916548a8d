/**
 * Chaos suite: every failover scenario, in sticky and in non-sticky mode, under load.
 * 3 storage nodes (memcached, or Redis with MSM_TEST_BACKEND=redis), 3 app processes, 500
 * sessions each incrementing its own counter. The scenarios of app-node faults run again with no
 * storage nodes, the apps replicating to each other (`peers`, both replication modes; in the
 * memcached run only).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { ChaosCluster, isPeers, percentile99, runLoad, type Backend, type Mode, type Timeline } from '../helpers/chaos.js';
import { testBackend } from '../helpers/backend.js';

/** The storage servers of this run (MSM_TEST_BACKEND). */
const store = testBackend();

const CONCURRENCY = 40;
const rows: string[] = [];
let cluster: ChaosCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

afterAll(() => {
  const table = [
    `| mode (${store}) | scenario | requests | failed | retried by the LB | p99 during fault (ms) | lost sessions | counter violations |`,
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  mkdirSync('test-artifacts', { recursive: true });
  const report = `test-artifacts/chaos-report${store === 'memcached' ? '' : `-${store}`}.md`;
  writeFileSync(report, table + '\n');
  console.log(`\nchaos results (also in ${report})\n${table}\n`);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  name: string;
  timeline(c: ChaosCluster): Timeline;
  /** Failures allowed after this many ms from the start (faults settle by then). */
  quietAfter(t: Timeline): number;
  /** Whether failures are bounded by the requests in flight at the fault. */
  boundedByInFlight(mode: Mode): boolean;
  /** Sessions in the load (default 500). */
  users?: number;
  /** Which backends it applies to: faults of memcached nodes only to memcached (default), app faults to peers too. */
  backends?: 'memcached' | 'any' | 'peers';
}

const base = { durationMs: 5000, faultAt: 1500, recoverAt: 3000 };

const scenarios: Scenario[] = [
  {
    name: `1. SIGKILL one ${store} node`,
    timeline: (c) => ({ ...base, fault: () => c.servers[1].signal('SIGKILL') }),
    quietAfter: (t) => t.faultAt + 2000,
    boundedByInFlight: () => true,
  },
  {
    name: `2. SIGSTOP one ${store} node for 1.5 s (> operationTimeout), then SIGCONT`,
    timeline: (c) => ({ ...base, fault: () => c.servers[1].signal('SIGSTOP'), recover: () => c.servers[1].signal('SIGCONT') }),
    quietAfter: (t) => t.recoverAt + 2000,
    // Non-sticky: a request that waited an operationTimeout on the hung node for its read answers
    // 503 rather than start a write that would pass requestDeadline, until the node is marked
    // down (three missed deadlines, about the whole pause): not only the requests in flight at the
    // fault (seen 19-43 of them with 40 in flight, before and after the storage interface).
    boundedByInFlight: (mode) => mode === 'sticky',
  },
  {
    // "Later": once every app has re-copied the sessions that had a copy on the restarted node
    // (until then a session's only copy may be on the node killed next; the README says so).
    name: `3. restart one ${store} node empty, later SIGKILL another`,
    timeline: (c) => ({
      ...base,
      fault: () => c.servers[0].restart(),
      recover: async () => {
        const waited = await c.relocationSettled('n1');
        if (waited > 100) console.log(`scenario 3 (${c.mode}): waited ${waited.toFixed(0)} ms for relocation before the SIGKILL`);
        await c.servers[2].signal('SIGKILL');
      },
    }),
    quietAfter: (t) => t.recoverAt + 2000,
    boundedByInFlight: () => true,
  },
  {
    name: '4. one node unreachable during updates, back with its old data',
    timeline: (c) => ({ ...base, fault: async () => c.proxies[1].block(), recover: async () => c.proxies[1].unblock() }),
    quietAfter: (t) => t.recoverAt + 2000,
    boundedByInFlight: () => true,
  },
  {
    name: '5. SIGKILL one app node',
    timeline: (c) => ({ ...base, fault: () => c.killApp(0) }),
    quietAfter: (t) => t.faultAt + 2000,
    boundedByInFlight: () => true,
    backends: 'any',
  },
  {
    // Its users wait for it (their connections are open, not refused); its peers mark it down and back up elsewhere.
    name: '9. SIGSTOP one app node for 5 s, then SIGCONT',
    timeline: (c) => ({
      // Every worker has users on the paused app and waits with them: a longer run after it, for the request floor.
      durationMs: 12_000,
      faultAt: 1500,
      recoverAt: 6500,
      fault: async () => void c.apps[1]?.child.kill('SIGSTOP'),
      recover: async () => void c.apps[1]?.child.kill('SIGCONT'),
    }),
    quietAfter: (t) => t.recoverAt + 2000,
    boundedByInFlight: () => true,
    backends: 'peers',
  },
  {
    name: `6. all ${store} nodes unreachable for 1.5 s, then back`,
    timeline: (c) => ({
      ...base,
      fault: async () => c.proxies.forEach((p) => p.block()),
      recover: async () => c.proxies.forEach((p) => p.unblock()),
    }),
    quietAfter: (t) => t.recoverAt + 2000,
    // Non-sticky mode cannot serve sessions while memcached is away: those requests fail (503).
    boundedByInFlight: (mode) => mode === 'sticky',
  },
  rollingRestart(),
  flappingNodes(),
];

/**
 * Storage nodes cut and back in turn, mostly two of three at once, so each app process sees a
 * different subset up at any moment (health checks notice each change at their own time).
 */
function flappingNodes(): Scenario {
  const cuts = [[0, 1], [1, 2], [0, 2], [0], [1, 2], [2], [0, 1], [1], [0, 2], [0, 1, 2]];
  const cutFor = 800;
  const backFor = 500;
  const faultAt = 1000;
  const faultsEnd = faultAt + cuts.length * (cutFor + backFor);
  return {
    name: `10. ${store} nodes cut and back ten times, mostly two of three at once`,
    timeline: (c) => ({
      durationMs: faultsEnd + 2500,
      faultAt,
      recoverAt: faultsEnd,
      fault: async () => {
        for (const cut of cuts) {
          for (const n of cut) c.proxies[n].block();
          await sleep(cutFor);
          for (const n of cut) c.proxies[n].unblock();
          await sleep(backFor);
        }
      },
    }),
    quietAfter: () => faultsEnd + 2000,
    // Requests that find two of a session's three nodes cut fail (503): none may lose anything.
    boundedByInFlight: () => false,
  };
}

/**
 * Every app node restarted in turn (SIGTERM, back with the same route, 1 s later the next one),
 * with 300 users: each user moves off its node and on again, so a session moves A → B → C → A.
 */
function rollingRestart(): Scenario {
  let restartsDone = Number.POSITIVE_INFINITY;
  return {
    name: '7. rolling restart of every app node (SIGTERM, restart, next)',
    users: 300,
    timeline: (c) => ({
      durationMs: 9000,
      faultAt: 1000,
      recoverAt: 7000,
      fault: async () => {
        const started = performance.now();
        for (let i = 0; i < c.apps.length; i++) {
          await c.restartApp(i);
          await sleep(1000);
        }
        restartsDone = 1000 + performance.now() - started;
      },
    }),
    // Requests cut by a shutdown fail (a load balancer would retry them); none after the last restart.
    quietAfter: () => restartsDone,
    boundedByInFlight: () => true,
    backends: 'any',
  };
}

const configurations: Array<{ label: string; mode: Mode; backend: Backend }> = [
  { label: 'sticky mode', mode: 'sticky', backend: store },
  { label: 'non-sticky mode', mode: 'non-sticky', backend: store },
  ...(store === 'memcached'
    ? ([
        { label: 'peers, replication backup', mode: 'sticky', backend: 'peers-backup' },
        { label: 'peers, replication all', mode: 'sticky', backend: 'peers-all' },
      ] as const)
    : []),
];

for (const { label, mode, backend } of configurations) {
  describe(`chaos, ${label}${store === 'memcached' || isPeers(backend) ? '' : ` over ${store}`}`, () => {
    const applies = (scenario: Scenario) => (scenario.backends ?? 'memcached') === 'any' || (scenario.backends ?? 'memcached') === (isPeers(backend) ? 'peers' : 'memcached');
    for (const scenario of scenarios.filter(applies)) {
      it(scenario.name, async () => {
        cluster = new ChaosCluster(mode, backend);
        await cluster.start();
        const timeline = scenario.timeline(cluster);
        const report = await runLoad(cluster, timeline, scenario.users ?? 500, CONCURRENCY);
        const p99 = percentile99(report.faultLatencies);
        rows.push(
          `| ${isPeers(backend) ? label : mode} | ${scenario.name} | ${report.requests} | ${report.failed} | ${report.retried} | ${p99.toFixed(0)} | ${report.lostSessions} | ${report.violations.length} |`,
        );
        // The load ran through the fault: on average every session was updated at least once (a
        // floor, not a speed target: the 2-core machine may be busy with other processes).
        if (process.env.CHAOS_TRACE_DUMP) writeFileSync(process.env.CHAOS_TRACE_DUMP, JSON.stringify(cluster.trace.events));
        if (report.explanation.length) console.log(`${mode}, ${scenario.name}: ${report.violations[0]}\n${report.explanation.join('\n')}`);
        expect(report.requests).toBeGreaterThan(500);
        expect(report.violations.slice(0, 5)).toEqual([]);
        expect(report.lostSessions).toBe(0);
        if (scenario.boundedByInFlight(mode)) expect(report.failed).toBeLessThanOrEqual(CONCURRENCY);
        expect(report.failedAt.filter((t) => t > scenario.quietAfter(timeline))).toEqual([]);
        if (isPeers(backend)) {
          // The padded sessions' changes went out as deltas (runLoad pads every other session with peers).
          const sent = await Promise.all(cluster.liveApps().map(async (app) => ((await (await fetch(`${app.url}/stats`)).json()) as { counters: { backupDeltas: number } }).counters.backupDeltas));
          expect(sent.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
        }
        await sleep(10);
      }, 60_000);
    }
  });
}

/** A user's cookie after `path` on `url` with `cookie` (the one it had when none is set). */
async function visit(url: string, path: string, cookie?: string): Promise<{ cookie?: string; user?: string }> {
  const response = await fetch(url + path, { headers: cookie ? { cookie } : {} });
  const set = response.headers.getSetCookie()[0]?.split(';')[0];
  const body = (await response.json()) as { data?: { user?: string } };
  return { cookie: set ?? cookie, user: body.data?.user };
}

describe('chaos, sticky mode: revocations when both tombstone nodes restart empty', () => {
  it(`8. restart two ${store} nodes empty at once: no revoked session is served again, no session lost`, async () => {
    cluster = new ChaosCluster('sticky', store);
    await cluster.start();
    const apps = cluster.liveApps();
    // 120 signed-in users whose old cookies are revoked while the app that served them still holds
    // the session in memory: half moved to the next app (takeover), half destroyed from another app.
    const revoked: string[] = [];
    for (let i = 0; i < 120; i++) {
      const home = apps[i % apps.length];
      const other = apps[(i + 1) % apps.length];
      const { cookie } = await visit(home.url, `/login?user=u${i}`);
      if (i % 2 === 0) expect((await visit(other.url, '/read', cookie)).user).toBe(`u${i}`);
      else {
        const sid = decodeURIComponent(cookie!.slice(cookie!.indexOf('=') + 1)).slice(2).replace(/\.[^.]*$/, '');
        await visit(other.url, `/store-destroy?sid=${encodeURIComponent(sid)}`);
      }
      revoked.push(cookie!);
    }
    // n1 and n2 are both tombstone nodes of about a third of the ids, and one of them of the rest.
    const timeline = { ...base, fault: async () => void (await Promise.all([cluster!.servers[0].restart(), cluster!.servers[1].restart()])) };
    const report = await runLoad(cluster, timeline, 500, CONCURRENCY);
    let served = 0;
    for (const [i, cookie] of revoked.entries()) {
      for (const app of cluster.liveApps()) {
        if (!(await visit(app.url, '/read', cookie)).user) continue;
        served++;
        console.log(`scenario 8: revoked session u${i} (${i % 2 === 0 ? 'taken over' : 'destroyed'}) served again by ${app.url}`);
      }
    }
    const counters = await Promise.all(cluster.liveApps().map(async (app) => ((await (await fetch(`${app.url}/stats`)).json()) as { counters: Record<string, number> }).counters));
    const total = (name: string) => counters.reduce((sum, c) => sum + (c[name] ?? 0), 0);
    console.log(`scenario 8: sessionsRevalidated ${total('sessionsRevalidated')}, revalidationsRefused ${total('revalidationsRefused')}, revokedSessionsRefused ${total('revokedSessionsRefused')}`);
    rows.push(
      `| sticky | 8. restart n1 and n2 empty at once (120 revoked sessions held in memory; ${served} served again) | ${report.requests} | ${report.failed} | ${report.retried} | ${percentile99(report.faultLatencies).toFixed(0)} | ${report.lostSessions} | ${report.violations.length} |`,
    );
    if (report.explanation.length) console.log(`sticky, scenario 8: ${report.violations[0]}\n${report.explanation.join('\n')}`);
    expect(served).toBe(0);
    expect(report.violations.slice(0, 5)).toEqual([]);
    expect(report.lostSessions).toBe(0);
    expect(report.failed).toBeLessThanOrEqual(CONCURRENCY);
  }, 60_000);
});

