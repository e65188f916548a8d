import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as PromClient from 'prom-client';
import { loadOptionalPeer } from '../base/optional-peer.js';
import { COUNTERS, type CounterName, type StatisticsSnapshot, type TimingName } from '../base/statistics.js';

/** What the exporter reads of the session middleware. */
export interface MetricsSource {
  statistics(): StatisticsSnapshot;
  nodes(): Record<string, boolean>;
  onTiming(listener: (operation: TimingName, ms: number) => void): void;
}

/** Latency buckets in seconds: 100 µs to 5 s. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What each counter counts, for the metric's help text. */
const COUNTER_HELP: Record<CounterName, string> = {
  requestsWithSession: 'Requests that arrived with a session cookie',
  requestsWithoutSession: 'Requests that arrived without a session cookie',
  requestsIgnored: 'Requests skipped by requestUriIgnorePattern (no session loaded or saved)',
  backups: 'Session copies written to memcached',
  backupsSkippedUnchanged: 'Backups skipped because the session had not changed',
  backupFailures: 'Backups to memcached that failed',
  backupDeltas: 'Backups sent to a peer as a delta of the copy it held (changed attributes only)',
  touches: 'Expiry refreshes of unchanged sessions in memcached',
  touchesSkipped: 'Expiry refreshes skipped because the stored copy already lives long enough (sticky mode)',
  loadsFromMemcached: 'Sessions read from memcached',
  loadFailures: 'Session reads from memcached that failed',
  corruptSessions: 'Stored sessions refused (corrupt, or not sealed under their key: forged, altered or moved) and replaced by a new session',
  takeovers: 'Sessions taken over from another app node (sticky mode)',
  memcachedFailovers: 'Loads that had to skip a failed node, and local sessions queued for a new backup after a node change',
  nodesMarkedDown: 'Times a memcached node was marked down',
  nodesMarkedUp: 'Times a memcached node was marked up again',
  nodeRestarts: 'Memcached node restarts detected (the node came back empty)',
  relocations: 'Background re-backups of local sessions run after a node went down, came back or restarted',
  relocationFailures: 'Sessions whose relocation still failed after 8 attempts (a node they needed kept failing)',
  expiredRemoved: 'Expired sessions removed from this process',
  localEvictions: 'Backed-up sessions dropped from this process to respect maxLocalSessions/maxLocalBytes',
  deletes: 'Sessions deleted from memcached (destroy, regenerate)',
  replicaRepairs: 'Stale or missing session copies rewritten from the newest copy',
  touchOnlyRequests: 'Requests matched by touchOnlyUriPattern (session kept alive, not loaded)',
  readOnlyRequests: 'Requests that ended without modifying their session (non-sticky mode)',
  locksAcquired: 'Session locks acquired (non-sticky mode)',
  lockWaits: 'Lock acquisitions that had to wait for another request',
  lockFailures: 'Lock acquisitions that gave up (request answered 503 with lockFailure: closed)',
  locksReleased: 'Session locks released',
  locksLost: 'Locks found expired or held by another request when checked',
  lockFailOpen: 'Requests run unlocked because the lock was not had in time (lockFailure: open)',
  conflicts: 'Updates refused because the session changed meanwhile without the lock (409)',
  requestDeadlinesMissed: 'Requests answered 503 because their session work would pass requestDeadline (non-sticky mode)',
  revocations: 'Revocation tombstones written (destroy, regenerate, takeover of an old id; sticky mode)',
  revocationChecks: 'Tombstone checks made before serving a session (sticky mode)',
  revokedSessionsRefused: 'Sessions refused because another node revoked them (sticky mode)',
  revocationCheckTimeouts: 'Tombstone nodes that missed revocationCheckTimeout in a check (the node counts as not answering; sticky mode)',
  sessionsRevalidated: 'Sessions served after their revocation data was lost, because memcached still held their copy (sticky mode)',
  revalidationsRefused: 'Sessions dropped because their revocation data was lost and memcached held no copy of them (sticky mode)',
  revocationPushFallbacks: 'Revocation tokens read from a node because its pushed feed was not current (subscription cut, stalled or just opened; sticky mode over Redis or peers)',
};

/**
 * The parts of a prom-client `Registry` the exporter uses. Structural, so this package's types do
 * not need prom-client installed (it is an optional peer); any prom-client `Registry` fits.
 */
export interface MetricsRegistry {
  removeSingleMetric(name: string): void;
  metrics(): Promise<string>;
  readonly contentType: string;
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Prometheus exposition of a session middleware's statistics (prom-client). Mount it in one line:
 *
 * ```js
 * app.get('/metrics', sessionMetrics(sessions));
 * ```
 *
 * Counters (`msm_<name>_total`), gauges (`msm_local_sessions`, `msm_memcached_node_up{node}`, …)
 * and latency histograms of store operations (`msm_operation_duration_seconds{operation}`).
 * Pass a `registry` to add them to your own; the default is a new one. Registering again on the
 * same registry replaces the metrics (the latest middleware is reported). Needs `prom-client`.
 */
export function sessionMetrics(middleware: MetricsSource, registry?: MetricsRegistry) {
  const { Counter, Gauge, Histogram, Registry } = loadOptionalPeer<typeof PromClient>('prom-client', 'sessionMetrics()');
  const target = (registry ?? new Registry()) as PromClient.Registry;
  /** Registers on `target`, replacing a metric of the same name from an earlier call. */
  const registers = (name: string) => {
    target.removeSingleMetric(name);
    return [target];
  };
  const read = () => middleware.statistics();
  for (const name of COUNTERS) {
    const metric = `msm_${snake(name)}_total`;
    new Counter({
      name: metric,
      help: COUNTER_HELP[name],
      registers: registers(metric),
      collect() {
        // The manager counts; the exporter reports its totals (counters only grow).
        this.reset();
        this.inc(read().counters[name as CounterName]);
      },
    });
  }
  new Gauge({
    name: 'msm_memcached_node_up',
    help: 'Whether each memcached node is up (1) or marked down (0)',
    labelNames: ['node'],
    registers: registers('msm_memcached_node_up'),
    collect() {
      for (const [node, up] of Object.entries(middleware.nodes())) this.set({ node }, up ? 1 : 0);
    },
  });
  for (const [gauge, help] of [
    ['localSessions', 'Sessions held in this process (sticky mode)'],
    ['localBytes', 'Memory of the sessions held in this process, in bytes (sticky mode)'],
    ['sessionsInUse', 'Sessions in use by requests of this process (non-sticky mode)'],
    ['revocationPushCurrent', 'Nodes whose revocation tokens reach this process by push, current (sticky mode over Redis or peers; the others are read)'],
    ['relocationsPending', 'Sessions queued, being re-copied or waiting for a retry after a memcached node change (some may have one copy until it is 0)'],
  ] as const) {
    new Gauge({
      name: `msm_${snake(gauge)}`,
      help,
      registers: registers(`msm_${snake(gauge)}`),
      collect() {
        this.set(read().gauges[gauge] ?? 0);
      },
    });
  }
  const durations = new Histogram({
    name: 'msm_operation_duration_seconds',
    help: 'Duration of session store operations in seconds, by operation (serialization, deserialization, backup, load, touch, delete, lockWait)',
    labelNames: ['operation'],
    buckets: BUCKETS,
    registers: registers('msm_operation_duration_seconds'),
  });
  middleware.onTiming((operation, ms) => durations.observe({ operation }, ms / 1000));

  return async function metrics(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await target.metrics();
    res.setHeader('Content-Type', target.contentType);
    res.end(body);
  };
}
