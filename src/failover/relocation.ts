import type { Statistics } from '../manager/statistics.js';
import { logEvent, type Logger } from '../manager/logger.js';

/**
 * Background jobs at once: bounded so relocation never starves request traffic, but wide
 * enough that the window in which a second node failure could take a session's last copy
 * stays short (the operations of concurrent jobs share round trips).
 */
const CONCURRENCY = 32;

/**
 * Runs relocation work (re-backups, copy repairs) in the background after a node goes down,
 * comes back or restarts: a bounded number at a time, each session at most once in the queue.
 */
export class Relocator {
  private readonly queue: Array<[string, () => Promise<unknown>]> = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private idleWaiters: Array<() => void> = [];

  private batch = 0;

  constructor(
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    // Until it reads 0, some sessions may have a single copy: the window a second failure must not hit.
    stats.gauge('relocationsPending', () => this.pending);
  }

  /** Queues `job` for `key` unless a job for it is already waiting. */
  enqueue(key: string, job: () => Promise<unknown>): void {
    if (this.queued.has(key)) return;
    if (this.pending === 0) {
      this.batch = 0;
      logEvent(this.logger, 'info', { event: 'relocation_started' }, 'relocating sessions after a memcached node change');
    }
    this.batch++;
    this.queued.add(key);
    this.queue.push([key, job]);
    this.pump();
  }

  get pending(): number {
    return this.queue.length + this.running;
  }

  /** Resolves when every queued job has run. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0) {
      const [key, job] = this.queue.shift()!;
      this.queued.delete(key);
      this.running++;
      this.stats.inc('relocations');
      void job()
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
          if (this.pending > 0) return;
          logEvent(this.logger, 'info', { event: 'relocation_finished', sessions: this.batch }, `relocated ${this.batch} session(s)`);
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        });
    }
  }
}
