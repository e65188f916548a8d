/**
 * The stored copy header: version, lifetime, optional expiry and optional write id.
 */
import { describe, expect, it } from 'vitest';
import { decodeCopy, encodeCopy, newWriteId } from '../../src/format/versioned-copy.js';

describe('versioned copy header', () => {
  it('round-trips every field, the write id included', () => {
    const copy = { version: 12, ttl: 1800, expiresAt: 1_800_000_000_000, writeId: newWriteId(), json: '{"a":"b:c#d"}' };
    expect(decodeCopy(encodeCopy(copy))).toEqual(copy);
    expect(decodeCopy(encodeCopy({ version: 3, ttl: 60, writeId: 'w1', json: '{}' }))).toEqual({ version: 3, ttl: 60, writeId: 'w1', json: '{}' });
  });

  it('reads copies written without a write id (sticky backups, older releases)', () => {
    expect(decodeCopy('7.60:{"n":1}')).toEqual({ version: 7, ttl: 60, json: '{"n":1}' });
    expect(decodeCopy('7.60.1800000000000:{}')).toEqual({ version: 7, ttl: 60, expiresAt: 1_800_000_000_000, json: '{}' });
  });

  it('write ids are random and fit the header', () => {
    const ids = new Set(Array.from({ length: 1000 }, newWriteId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{11}$/);
  });

  it('rejects a malformed write id as foreign data', () => {
    expect(decodeCopy('7.60#bad id:{}')).toBeUndefined();
    expect(decodeCopy(`7.60#${'x'.repeat(23)}:{}`)).toBeUndefined();
  });
});
