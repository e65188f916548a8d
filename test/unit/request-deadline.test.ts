import { describe, expect, it } from 'vitest';
import { RequestDeadlineError, waitAtMost, withinDeadline } from '../../src/modes/nonsticky/request-deadline.js';
import { SessionStoreUnavailableError } from '../../src/base/errors.js';

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('request deadline helpers', () => {
  it('passes work that ends in time through, errors included', async () => {
    expect(await withinDeadline(after(5, 'ok'), 200, 200)).toBe('ok');
    await expect(withinDeadline(Promise.reject(new TypeError('x')), 200, 200)).rejects.toBeInstanceOf(TypeError);
  });

  it('past the deadline: a 503 naming requestDeadline, and a late value goes to `late` (a lock to release)', async () => {
    const late: string[] = [];
    const err = await withinDeadline(after(60, 'lock'), 10, 1000, (value) => late.push(value)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestDeadlineError);
    expect(err).toBeInstanceOf(SessionStoreUnavailableError);
    expect((err as SessionStoreUnavailableError).status).toBe(503);
    expect((err as Error).message).toMatch(/requestDeadline \(1000 ms\); nothing was written/);
    expect(late).toEqual([]);
    await after(80, undefined);
    expect(late).toEqual(['lock']);
  });

  it('waitAtMost resolves at the limit while the work goes on', async () => {
    let done = false;
    const started = performance.now();
    await waitAtMost(after(200, undefined).then(() => (done = true)), 20);
    expect(performance.now() - started).toBeLessThan(150);
    expect(done).toBe(false);
  });
});
