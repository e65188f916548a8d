import { faultOf, NodeConnectionError } from '../storage/call-fault.js';

/** Circuit-breaker and heartbeat settings. */
export interface HealthOptions {
  /** Consecutive failures that mark a node down (one slow call must not evict a node). */
  failureThreshold: number;
  /** How often nodes are checked (down nodes probed, up nodes checked for a restart), in ms. */
  checkInterval: number;
}

export type HealthEvent = 'down' | 'up' | 'restarted';
export type HealthListener = (nodeId: string, event: HealthEvent, reason: string) => void;
/** Asks a node which process answers: a different answer means it restarted (empty). */
export type Probe = (nodeId: string) => Promise<string>;

/**
 * Tracks which storage nodes are usable. A node goes down after `failureThreshold`
 * consecutive failures, or at once when it refuses a connection, and comes back when a background probe succeeds; a heartbeat on up
 * nodes notices a restart (a new process id or start time) that requests never saw fail.
 */
export class NodeHealth {
  private readonly failures = new Map<string, number>();
  private readonly down = new Set<string>();
  /** Each node's process as last seen ("pid 1 started at …"). */
  private readonly processes = new Map<string, string>();
  /** When each node last came back: failures of calls started before then are stale. */
  private readonly upSince = new Map<string, number>();
  /** The error each node's last counted failure carried. */
  private readonly lastError = new Map<string, unknown>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly nodeIds: readonly string[],
    private readonly options: HealthOptions,
    private readonly probe: Probe,
    private readonly onChange: HealthListener,
  ) {
    this.timer = setInterval(() => void this.check(), options.checkInterval);
    this.timer.unref();
    // Learn each node's process at once, so a restart right after startup is noticed too.
    void this.check();
  }

  isUp(nodeId: string): boolean {
    return !this.down.has(nodeId);
  }

  succeeded(nodeId: string): void {
    if (this.failures.get(nodeId)) this.failures.set(nodeId, 0);
  }

  /**
   * Records a failed call. Only the node's faults count (see faultOf): an error answer proves the
   * node up, and an error caused by the request's data says nothing about it. `startedAt`
   * (performance.now()) lets calls begun before a recovery be ignored. Calls failed by one event (a
   * dropped connection fails every call on it with the same error) count once: else one slow
   * answer with two calls queued behind it marks a node down.
   */
  failed(nodeId: string, err: unknown, startedAt = performance.now()): void {
    const fault = faultOf(err);
    if (fault === 'answered') this.succeeded(nodeId);
    else if (fault === 'node') this.count(nodeId, err, startedAt);
  }

  /** Counts a failure of the node itself towards marking it down. */
  private count(nodeId: string, err: unknown, startedAt: number): void {
    if (this.down.has(nodeId) || startedAt < (this.upSince.get(nodeId) ?? 0)) return;
    // Each call wraps a connection error it shares with the others; the cause is the event.
    const event = err instanceof NodeConnectionError ? err.cause : err;
    if (typeof event === 'object' && event !== null) {
      if (this.lastError.get(nodeId) === event) return;
      this.lastError.set(nodeId, event);
    }
    // Nothing listens there: a node that refuses a connection serves no one, so it is out at once.
    const refused = err instanceof NodeConnectionError && err.code === 'ECONNREFUSED';
    const count = refused ? this.options.failureThreshold : (this.failures.get(nodeId) ?? 0) + 1;
    this.failures.set(nodeId, count);
    if (count >= this.options.failureThreshold) {
      this.down.add(nodeId);
      const reason = refused ? 'connection refused' : `${count} consecutive failures`;
      this.onChange(nodeId, 'down', `${reason}, last: ${(err as Error)?.message ?? err}`);
    }
  }

  /** One round of checks: every node, at once. */
  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all(this.nodeIds.map((id) => this.checkNode(id)));
    } finally {
      this.checking = false;
    }
  }

  private async checkNode(nodeId: string): Promise<void> {
    let instance: string;
    try {
      instance = await this.probe(nodeId);
    } catch (err) {
      // A health check carries no request data: however it failed, the node did.
      this.count(nodeId, err, performance.now());
      return;
    }
    const known = this.processes.get(nodeId);
    this.processes.set(nodeId, instance);
    if (this.down.delete(nodeId)) {
      this.failures.set(nodeId, 0);
      this.upSince.set(nodeId, performance.now());
      this.onChange(nodeId, 'up', 'answered a health check');
    } else if (known !== undefined && known !== instance) {
      this.onChange(nodeId, 'restarted', `${known} is now ${instance}: it restarted empty`);
    }
  }

  /** Stops the checks. */
  close(): void {
    clearInterval(this.timer);
  }
}
