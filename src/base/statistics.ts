import { Histogram, type LatencySummary } from './histogram.js';

/** Counters kept by the manager (MSM's, plus a few of our own). */
export const COUNTERS = [
  'requestsWithSession',
  'requestsWithoutSession',
  'requestsIgnored',
  'backups',
  'backupsSkippedUnchanged',
  'backupFailures',
  'backupDeltas',
  'touches',
  'touchesSkipped',
  'loadsFromMemcached',
  'loadFailures',
  'corruptSessions',
  'takeovers',
  'memcachedFailovers',
  'nodesMarkedDown',
  'nodesMarkedUp',
  'nodeRestarts',
  'relocations',
  'relocationFailures',
  'expiredRemoved',
  'localEvictions',
  'deletes',
  'replicaRepairs',
  'touchOnlyRequests',
  'readOnlyRequests',
  'locksAcquired',
  'lockWaits',
  'lockFailures',
  'locksReleased',
  'locksLost',
  'lockFailOpen',
  'conflicts',
  'requestDeadlinesMissed',
  'revocations',
  'revocationChecks',
  'revokedSessionsRefused',
  'revocationCheckTimeouts',
  'sessionsRevalidated',
  'revalidationsRefused',
  'revocationPushFallbacks',
] as const;

/** Operations whose latency is recorded. */
export const TIMINGS = ['serialization', 'deserialization', 'backup', 'load', 'touch', 'delete', 'lockWait'] as const;

export type CounterName = (typeof COUNTERS)[number];
export type TimingName = (typeof TIMINGS)[number];

/** What `statistics()` returns: counters, gauges and latency summaries (ms). */
export interface StatisticsSnapshot {
  counters: Record<CounterName, number>;
  timings: Record<TimingName, LatencySummary>;
  gauges: Record<string, number>;
}

/** Counters and latency histograms; a disabled instance records nothing. */
export class Statistics {
  private readonly counters = Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<CounterName, number>;
  private readonly timings = Object.fromEntries(TIMINGS.map((name) => [name, new Histogram()])) as Record<
    TimingName,
    Histogram
  >;
  private readonly gauges = new Map<string, () => number>();
  private readonly timingListeners: Array<(name: TimingName, ms: number) => void> = [];

  constructor(readonly enabled: boolean) {}

  inc(name: CounterName, by = 1): void {
    if (this.enabled) this.counters[name] += by;
  }

  record(name: TimingName, ms: number): void {
    if (!this.enabled) return;
    this.timings[name].record(ms);
    for (const listener of this.timingListeners) listener(name, ms);
  }

  /** Calls `listener` with every recorded latency (exporters keep their own histograms). */
  onTiming(listener: (name: TimingName, ms: number) => void): void {
    this.timingListeners.push(listener);
  }

  /** Times `work` into `name`, whether it settles or throws at once. */
  time<T>(name: TimingName, work: () => Promise<T>): Promise<T> {
    // Plain promise chaining rather than async/await: every session load and backup passes here.
    const start = performance.now();
    const done = () => this.record(name, performance.now() - start);
    let pending: Promise<T>;
    try {
      pending = work();
    } catch (err) {
      done();
      return Promise.reject(err);
    }
    return pending.then(
      (value) => {
        done();
        return value;
      },
      (err: unknown) => {
        done();
        throw err;
      },
    );
  }

  /** Registers a value read at snapshot time (e.g. sessions held locally). */
  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  snapshot(): StatisticsSnapshot {
    return {
      counters: { ...this.counters },
      timings: Object.fromEntries(TIMINGS.map((name) => [name, this.timings[name].summary()])) as Record<
        TimingName,
        LatencySummary
      >,
      gauges: Object.fromEntries([...this.gauges].map(([name, read]) => [name, read()])),
    };
  }
}
