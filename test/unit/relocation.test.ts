/**
 * Relocation retries: a repair that could not finish (a node it needed did not answer) is tried
 * again with backoff instead of leaving the session with one copy until the next node change.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Relocator } from '../../src/failover/relocation.js';
import { Statistics } from '../../src/base/statistics.js';
import type { Logger } from '../../src/base/logger.js';

const events: string[] = [];
const record = (fields: unknown) => void events.push((fields as { event: string }).event);
const logger: Logger = { info: record, warn: record, error: record };

afterEach(() => {
  vi.useRealTimers();
  events.length = 0;
});

describe('relocation', () => {
  it('tries a job again until it reports its work done, and counts it pending meanwhile', async () => {
    vi.useFakeTimers();
    const stats = new Statistics(true);
    const relocator = new Relocator(stats, logger);
    const outcomes = [false, 'throw', true] as const;
    let attempts = 0;
    relocator.enqueue('k', async () => {
      const outcome = outcomes[attempts++];
      if (outcome === 'throw') throw new Error('node did not answer');
      return outcome;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toBe(1);
    expect(relocator.pending).toBe(1); // waiting for its retry, not finished
    await vi.advanceTimersByTimeAsync(5000);
    expect(attempts).toBe(3);
    expect(relocator.pending).toBe(0);
    await relocator.idle();
    expect(stats.snapshot().counters.relocationFailures).toBe(0);
    expect(events.filter((e) => e === 'relocation_finished')).toHaveLength(1);
  });

  it('gives up after 8 attempts, counted and logged', async () => {
    vi.useFakeTimers();
    const stats = new Statistics(true);
    const relocator = new Relocator(stats, logger);
    let attempts = 0;
    relocator.enqueue('k', async () => {
      attempts++;
      return false;
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toBe(8);
    expect(relocator.pending).toBe(0);
    expect(stats.snapshot().counters.relocationFailures).toBe(1);
    expect(events).toContain('relocation_failed');
  });

  it('drops waiting retries on shutdown', async () => {
    vi.useFakeTimers();
    const relocator = new Relocator(new Statistics(true), logger);
    let attempts = 0;
    relocator.enqueue('k', async () => {
      attempts++;
      return false;
    });
    await vi.advanceTimersByTimeAsync(0);
    relocator.stopRetrying();
    await relocator.idle();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toBe(1);
  });
});
