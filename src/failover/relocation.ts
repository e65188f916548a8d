import type { Statistics } from '../base/statistics.js';
import { logEvent, type Logger } from '../base/logger.js';

/**
 * Background jobs at once: bounded so relocation never starves request traffic, but wide
 * enough that the window in which a second node failure could take a session's last copy
 * stays short (the operations of concurrent jobs share round trips).
 */
const CONCURRENCY = 32;
/** Tries per session before a relocation gives up (a node flapping, every node overloaded). */
const MAX_ATTEMPTS = 8;
/** Wait before the first retry, in ms; doubles per attempt up to MAX_RETRY_DELAY. */
const FIRST_RETRY_DELAY = 100;
const MAX_RETRY_DELAY = 2000;

/**
 * Runs relocation work (re-backups, copy repairs) in the background after a node goes down,
 * comes back or restarts: a bounded number at a time, each session at most once in the queue.
 * A job that did not finish its work (it resolves `false` or rejects: a node it needed did not
 * answer) is tried again with backoff, so an overloaded moment does not leave a session with a
 * single copy until the next node change.
 */
export class Relocator {
  private readonly queue: Array<Job> = [];
  private readonly queued = new Set<string>();
  private running = 0;
  /** Retries waiting for their timer. */
  private readonly retries = new Set<NodeJS.Timeout>();
  private idleWaiters: Array<() => void> = [];

  private batch = 0;

  /**
   * @param retryWindowMs how long a job keeps being retried, at least (beyond MAX_ATTEMPTS): a
   *   repair that waits for a doubtful copy's doubt to pass must outlast that doubt.
   */
  constructor(
    private readonly stats: Statistics,
    private readonly logger: Logger,
    private readonly retryWindowMs = 0,
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
    this.queue.push({ key, run: job, attempt: 1, since: performance.now() });
    this.pump();
  }

  get pending(): number {
    return this.queue.length + this.running + this.retries.size;
  }

  /** Drops the retries still waiting (shutdown); queued and running jobs finish. */
  stopRetrying(): void {
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    this.settle();
  }

  /** Resolves when every queued job has run. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.queued.delete(job.key);
      this.running++;
      this.stats.inc('relocations');
      void job
        .run()
        .then(
          (done) => done !== false,
          () => false,
        )
        .then((done) => {
          this.running--;
          if (!done) this.retry(job);
          this.pump();
          this.settle();
        });
    }
  }

  private retry(job: Job): void {
    if (job.attempt >= MAX_ATTEMPTS && performance.now() - job.since >= this.retryWindowMs) {
      this.stats.inc('relocationFailures');
      logEvent(this.logger, 'warn', { event: 'relocation_failed', attempts: job.attempt }, `a session could not be relocated after ${job.attempt} attempts`);
      return;
    }
    const timer = setTimeout(
      () => {
        this.retries.delete(timer);
        if (!this.queued.has(job.key)) {
          this.queued.add(job.key);
          this.queue.push({ ...job, attempt: job.attempt + 1 });
        }
        this.pump();
        this.settle();
      },
      Math.min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2 ** (job.attempt - 1)),
    );
    timer.unref();
    this.retries.add(timer);
  }

  /** Reports the end of a batch once nothing is queued, running or waiting to be retried. */
  private settle(): void {
    if (this.pending > 0) return;
    logEvent(this.logger, 'info', { event: 'relocation_finished', sessions: this.batch }, `relocated ${this.batch} session(s)`);
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

interface Job {
  key: string;
  run: () => Promise<unknown>;
  attempt: number;
  /** When the job was first queued (performance.now()). */
  since: number;
}
