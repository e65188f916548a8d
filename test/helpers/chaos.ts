/**
 * Chaos harness: 3 storage nodes (memcached or Redis, see backend.ts; each behind a TCP proxy),
 * or none with the app processes replicating to each other (`peers`), 3 app processes, and a load
 * of many sessions that each increment their own counter and remember the last value the server
 * confirmed. Checks that no session is lost and no counter goes backwards or skips.
 */
import { freePort } from './memcached.js';
import { nodeListOption, startServer, type TestBackend } from './backend.js';
import type { StorageServer } from './server-process.js';
import { startApp, type AppProcess } from './app-process.js';
import { TcpProxy } from './tcp-proxy.js';
import { ProtocolTrace } from './protocol-trace.js';
import { openCopy, sealingOf } from './sealed.js';

/** How the app processes (test/fixtures/app-node.mjs) name and seal their items: to read a trace. */
const sealing = sealingOf('test secret');

export type Mode = 'sticky' | 'non-sticky';
/** Where sessions are backed up: storage servers (memcached or Redis), or the app processes themselves with `replication` 'backup' or 'all'. */
export type Backend = TestBackend | 'peers-backup' | 'peers-all';

/** Whether the app processes keep the copies themselves (no storage servers). */
export const isPeers = (backend: Backend): backend is 'peers-backup' | 'peers-all' => backend === 'peers-backup' || backend === 'peers-all';

export class ChaosCluster {
  servers: StorageServer[] = [];
  proxies: TcpProxy[] = [];
  apps: Array<AppProcess | undefined> = [];
  /** Every memcached operation per key, to explain a violation (the trace reads memcached's protocol only). */
  readonly trace = new ProtocolTrace((key, value) => {
    const copy = openCopy(sealing, key, value);
    return copy && `${copy.version}${copy.json === '' ? ' destroyed' : ''}`;
  });

  /** With peers: `app1:127.0.0.1:<port>,…`, the apps' own addresses. */
  private peers = '';

  constructor(
    readonly mode: Mode,
    readonly backend: Backend = 'memcached',
  ) {}

  async start(nodes = 3, appCount = 3): Promise<void> {
    if (isPeers(this.backend)) {
      const ports = [];
      for (let i = 0; i < appCount; i++) ports.push(await freePort());
      this.peers = ports.map((port, i) => `app${i + 1}:127.0.0.1:${port}`).join(',');
      for (let i = 0; i < appCount; i++) this.apps.push(await this.startApp(i));
      await this.peersSettled();
      return;
    }
    const kind = this.backend;
    this.servers = await Promise.all(Array.from({ length: nodes }, () => startServer(kind)));
    const traced = (n: number) => (kind === 'memcached' ? { log: this.trace, node: `n${n + 1}` } : undefined);
    this.proxies = this.servers.map((m, n) => new TcpProxy(m.host, m.port, traced(n)));
    await Promise.all(this.proxies.map((p) => p.start()));
    for (let i = 0; i < appCount; i++) this.apps.push(await this.startApp(i));
  }

  /** Waits until every app sees every peer up: until then a session gets fewer copies (as a deployment's readiness check would). */
  private async peersSettled(): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const views = await Promise.all(this.apps.map(async (app) => (await (await fetch(`${app!.url}/nodes`)).json()) as Record<string, boolean>));
      if (views.every((view) => Object.values(view).every(Boolean))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the app processes never all saw each other up');
  }

  private async startApp(i: number): Promise<AppProcess> {
    const backend = isPeers(this.backend)
      ? { peers: this.peers, self: `app${i + 1}`, replication: this.backend === 'peers-all' ? 'all' : 'backup' }
      : nodeListOption(this.proxies.map((p) => `127.0.0.1:${p.port}`), this.backend);
    const common = { ...backend, operationTimeout: 500, logger: undefined };
    const options =
      this.mode === 'sticky'
        ? // Synchronous backups: an acknowledged update is in storage before the response.
          { ...common, route: `app${i + 1}`, sessionBackupAsync: false, sessionBackupTimeout: 1000 }
        : { ...common, sticky: false };
    return startApp(`app${i + 1}`, options);
  }

  /** Apps told to shut down: the load balancer sends them nothing new. */
  private readonly stopping = new Set<AppProcess>();

  liveApps(): AppProcess[] {
    return this.apps.filter((a): a is AppProcess => !!a && !this.stopping.has(a) && a.child.exitCode === null && a.child.signalCode === null);
  }

  async killApp(i: number): Promise<void> {
    await this.apps[i]?.kill('SIGKILL');
  }

  /**
   * Restarts app `i` as a rolling restart does: SIGTERM (it finishes the requests in flight,
   * then exits), then a new process with the same route, which the load balancer sends its
   * users to again.
   */
  async restartApp(i: number): Promise<void> {
    const app = this.apps[i];
    if (app) this.stopping.add(app);
    await app?.kill('SIGTERM');
    this.apps[i] = await this.startApp(i);
    if (isPeers(this.backend)) await this.peersSettled();
  }

  /**
   * Waits until every live app has noticed that storage node `node` came back or restarted
   * and has finished re-copying its sessions (see `relocationSettled`).
   */
  relocationSettled(node: string, timeoutMs = 20_000): Promise<number> {
    return relocationSettled(this.liveApps().map((app) => app.url), node, undefined, timeoutMs);
  }

  async stop(): Promise<void> {
    for (const app of this.apps) await app?.kill('SIGKILL');
    await Promise.all(this.proxies.map((p) => p.stop()));
    await Promise.all(this.servers.map((m) => m.stop()));
  }
}

interface User {
  cookie?: string;
  /** What this user's requests did (trace clock), for a violation's explanation. */
  log: string[];
  home: number;
  last: number;
  unconfirmed: number;
}

export interface LoadReport {
  requests: number;
  failed: number;
  /** Requests a load balancer would have retried on another app node (connection-level errors). */
  retried: number;
  /** Start times (ms since load start) of failed requests. */
  failedAt: number[];
  /** Latencies (ms) of requests started in the fault window. */
  faultLatencies: number[];
  violations: string[];
  lostSessions: number;
  /** For the first violation: the user's requests and every memcached operation on its session ids. */
  explanation: string[];
}

export interface Timeline {
  durationMs: number;
  faultAt: number;
  recoverAt: number;
  fault(): Promise<void>;
  recover?(): Promise<void>;
}

function p99(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
}

export const percentile99 = p99;

/**
 * Drives `users` sessions with `concurrency` workers while the timeline injects a fault.
 * Sticky: each user stays on its home app; a refused connection moves it to another one (as a
 * load balancer would). Non-sticky: round robin over the live apps.
 */
export async function runLoad(cluster: ChaosCluster, timeline: Timeline, users = 500, concurrency = 40): Promise<LoadReport> {
  const sessions: User[] = Array.from({ length: users }, (_, i) => ({ home: i % cluster.apps.length, last: 0, unconfirmed: 0, log: [] as string[] }));
  // With peers, every other session carries 2 KB of padding, so its changes travel as deltas.
  const incPath = (i: number) => (isPeers(cluster.backend) && i % 2 === 1 ? '/inc?pad=2' : '/inc');
  const report: LoadReport = { requests: 0, failed: 0, retried: 0, failedAt: [], faultLatencies: [], violations: [], lostSessions: 0, explanation: [] };
  const start = performance.now();
  const now = () => performance.now() - start;
  let roundRobin = 0;

  const pickApp = (user: User): { app: AppProcess; index: number } => {
    const live = cluster.apps.map((a, i) => ({ app: a, index: i })).filter((x) => x.app && cluster.liveApps().includes(x.app));
    if (cluster.mode === 'sticky') {
      const home = live.find((x) => x.index === user.home);
      if (home) return home as { app: AppProcess; index: number };
      const next = live[user.home % live.length] as { app: AppProcess; index: number };
      user.home = next.index; // the load balancer fails the user over to another node
      return next;
    }
    return live[roundRobin++ % live.length] as { app: AppProcess; index: number };
  };

  const request = async (user: User, path: string): Promise<number | undefined | 'failed'> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { app, index } = pickApp(user);
      const sentAt = cluster.trace.now();
      try {
        const response = await fetch(app.url + path, { headers: user.cookie ? { cookie: user.cookie } : {} });
        for (const line of response.headers.getSetCookie()) user.cookie = line.split(';')[0];
        const body = (await response.json()) as { data?: { count?: number }; error?: string };
        const outcome = response.status === 200 ? `count ${body.data?.count}` : `"${body.error}"`;
        user.log.push(`${String(sentAt).padStart(5)}ms app${index + 1} ${path} → ${response.status} ${outcome} at ${cluster.trace.now()}ms (${sessionId(user.cookie)})`);
        if (response.status !== 200) return 'failed';
        return body.data?.count;
      } catch (err) {
        user.log.push(`${String(sentAt).padStart(5)}ms app${index + 1} ${path} → ${(err as Error).message}`);
        // A refused connection never reached the app: a load balancer retries it elsewhere.
        // So does a connection to an app that is dead now; the first attempt may have been
        // applied before the app died, so it counts as unconfirmed.
        const code = (err as { cause?: { code?: string } }).cause?.code;
        const dead = !cluster.liveApps().includes(app);
        if (code !== 'ECONNREFUSED' && !dead) return 'failed';
        if (code !== 'ECONNREFUSED') user.unconfirmed++;
        report.retried++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    return 'failed';
  };

  // Each session belongs to one worker, so no session ever has two requests in flight.
  const worker = async (w: number) => {
    const mine = sessions.map((_, i) => i).filter((i) => i % concurrency === w);
    for (let n = 0; now() < timeline.durationMs; n++) {
      const i = mine[n % mine.length];
      const user = sessions[i];
      const startedAt = now();
      const result = await request(user, incPath(i));
      const latency = now() - startedAt;
      report.requests++;
      if (startedAt >= timeline.faultAt && startedAt <= timeline.recoverAt) report.faultLatencies.push(latency);
      if (result === 'failed') {
        report.failed++;
        report.failedAt.push(Math.round(startedAt));
        user.unconfirmed++;
        continue;
      }
      const count = result ?? 0;
      if (count <= user.last) report.violations.push(`session ${i}: counter went back from ${user.last} to ${count}`);
      else if (count > user.last + 1 + user.unconfirmed) report.violations.push(`session ${i}: counter skipped from ${user.last} to ${count}`);
      user.last = count;
      user.unconfirmed = 0;
    }
  };

  const faults = (async () => {
    await new Promise((r) => setTimeout(r, timeline.faultAt));
    await timeline.fault();
    if (timeline.recover) {
      await new Promise((r) => setTimeout(r, Math.max(0, timeline.recoverAt - now())));
      await timeline.recover();
    }
  })();
  await Promise.all([...Array.from({ length: concurrency }, (_, w) => worker(w)), faults]);

  // Every session still holds at least its last confirmed value.
  await new Promise((r) => setTimeout(r, 300));
  for (const [i, user] of sessions.entries()) {
    if (user.last === 0) continue;
    const result = await request(user, '/read');
    const count = result === 'failed' ? undefined : result;
    if (count === undefined) {
      report.lostSessions++;
      report.violations.push(`session ${i}: lost (last confirmed ${user.last})`);
    } else if (count < user.last || count > user.last + user.unconfirmed) {
      report.violations.push(`session ${i}: final ${count}, last confirmed ${user.last} (+${user.unconfirmed} unconfirmed)`);
    }
  }
  const broken = sessions.find((_user, i) => report.violations.some((v) => v.startsWith(`session ${i}:`)));
  if (broken) {
    const ids = [...new Set(broken.log.map((line) => /\((.*)\)$/.exec(line)?.[1]).filter((id): id is string => !!id && id !== 'none'))];
    report.explanation = [
      ...broken.log,
      ...ids.flatMap((id) => [`memcached operations on ${id.slice(0, 12)} (its copies):`, ...cluster.trace.history(sealing.sessionKey(id))]),
      // What the apps logged (node changes, corrupt copies) puts the trace in context.
      ...cluster.apps.flatMap((app, i) => (app ? [`app${i + 1} logged:`, ...app.logs.slice(-30)] : [])),
    ];
  }
  return report;
}

/** The session id in a `connect.sid=s:<id>.<signature>` cookie. */
export function sessionId(cookie: string | undefined): string {
  const value = cookie ? decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)) : '';
  return value.startsWith('s:') ? value.slice(2, value.lastIndexOf('.')) : 'none';
}

interface AppStats {
  counters: Record<string, number>;
  gauges: Record<string, number>;
}

const appStats = async (url: string) => (await (await fetch(`${url}/stats`)).json()) as AppStats;
const changesNoticed = (stats: AppStats) => stats.counters.nodeRestarts + stats.counters.nodesMarkedUp;

/** How many times each app has seen a memcached node come back or restart (a baseline for `relocationSettled`). */
export async function nodeReturnsNoticed(urls: string[]): Promise<number[]> {
  return Promise.all(urls.map(async (url) => changesNoticed(await appStats(url))));
}

/**
 * Waits until every app has noticed memcached node `node` come back or restart (more often than
 * `noticedBefore`, from `nodeReturnsNoticed`), sees it up, and has finished re-copying its
 * sessions: from then on each session has two copies again. Resolves with the ms it took;
 * rejects after `timeoutMs`.
 */
export async function relocationSettled(urls: string[], node: string, noticedBefore = urls.map(() => 0), timeoutMs = 20_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const states = await Promise.all(
      urls.map(async (url, i) => {
        const stats = await appStats(url);
        return changesNoticed(stats) > noticedBefore[i] && stats.gauges[`nodeUp.${node}`] === 1 && stats.gauges.relocationsPending === 0;
      }),
    );
    const waited = performance.now() - started;
    if (states.every(Boolean)) return waited;
    if (waited > timeoutMs) throw new Error(`relocation after the change of ${node} did not finish within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
