import { describe, expect, it } from 'vitest';
import { randomToken } from '../../src/base/random-token.js';

describe('randomToken', () => {
  it('gives base64url tokens of the asked size, never the same bytes twice across pool refills', () => {
    const seen = new Set<string>();
    // 24-byte tokens do not divide the 4 KiB pool: the refill boundary is crossed many times.
    for (let i = 0; i < 20_000; i++) {
      const token = randomToken(24);
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      seen.add(token);
    }
    expect(seen.size).toBe(20_000);
    expect(Buffer.from(randomToken(8), 'base64url')).toHaveLength(8);
    expect(Buffer.from(randomToken(12), 'base64url')).toHaveLength(12);
    expect(() => randomToken(5000)).toThrow(RangeError);
  });

  it('spreads its bits: every base64url character shows up', () => {
    const chars = new Set(Array.from({ length: 2000 }, () => randomToken(24)).join(''));
    expect(chars.size).toBe(64);
  });
});
