/** Circuit-breaker settings. */
export interface HealthOptions {
  /** Consecutive failures that mark a node down (one slow call must not evict a node). */
  failureThreshold: number;
  /** How often a down node is probed, in ms. */
  probeInterval: number;
}

export type HealthListener = (nodeId: string, up: boolean, reason: string) => void;

/**
 * Tracks which memcached nodes are usable. A node goes down after `failureThreshold`
 * consecutive failures and comes back when a background probe succeeds.
 */
export class NodeHealth {
  private readonly failures = new Map<string, number>();
  private readonly down = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly options: HealthOptions,
    private readonly probe: (nodeId: string) => Promise<void>,
    private readonly onChange: HealthListener,
  ) {}

  isUp(nodeId: string): boolean {
    return !this.down.has(nodeId);
  }

  succeeded(nodeId: string): void {
    this.failures.set(nodeId, 0);
  }

  failed(nodeId: string, err: unknown): void {
    if (this.down.has(nodeId)) return;
    const count = (this.failures.get(nodeId) ?? 0) + 1;
    this.failures.set(nodeId, count);
    if (count >= this.options.failureThreshold) {
      this.down.add(nodeId);
      this.onChange(nodeId, false, `${count} consecutive failures, last: ${(err as Error)?.message ?? err}`);
      this.scheduleProbe(nodeId);
    }
  }

  private scheduleProbe(nodeId: string): void {
    const timer = setTimeout(() => {
      this.timers.delete(nodeId);
      this.probe(nodeId).then(
        () => {
          if (!this.down.delete(nodeId)) return;
          this.failures.set(nodeId, 0);
          this.onChange(nodeId, true, 'answered a probe');
        },
        () => this.down.has(nodeId) && this.scheduleProbe(nodeId),
      );
    }, this.options.probeInterval);
    timer.unref();
    this.timers.set(nodeId, timer);
  }

  /** Stops probing. */
  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
