/** Bucket growth factor: each bucket is 5% wider than the previous, so percentiles are within 5%. */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Smallest distinguishable value, in milliseconds (1 µs). */
const FLOOR_MS = 0.001;
const BUCKETS = Math.ceil(Math.log(600_000 / FLOOR_MS) / LOG_GROWTH) + 1;

/** Snapshot of a latency distribution, in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

/**
 * Constant-memory latency histogram with logarithmic buckets (1 µs to 10 min),
 * so percentiles come from all samples rather than a window.
 */
export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = 0;

  record(ms: number): void {
    const value = Math.max(ms, FLOOR_MS);
    const index = Math.min(BUCKETS - 1, Math.floor(Math.log(value / FLOOR_MS) / LOG_GROWTH));
    this.counts[index]++;
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  /** The smallest bucket bound below which `q` of the samples fall (capped at the true max). */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, FLOOR_MS * GROWTH ** (i + 1));
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.max,
      mean: this.count ? this.sum / this.count : 0,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      p999: this.percentile(0.999),
    };
  }
}
