import { describe, expect, it } from 'vitest';
import { MAX_LIFETIME_SECONDS } from '../../src/base/lifetime.js';
import { memcachedExpiration, RELATIVE_EXPIRATION_LIMIT } from '../../src/storage/memcached/expiration.js';
import {
  checkItemSize,
  CorruptSessionError,
  decodeSession,
  encodeSession,
  SessionTooLargeError,
  storedJson,
} from '../../src/format/session-codec.js';
import { unsealedKey } from '../../src/format/storage-key.js';

describe('memcached expiration arithmetic', () => {
  const now = Date.UTC(2026, 0, 1);
  it('uses relative seconds up to 30 days, rounding up', () => {
    expect(memcachedExpiration(1.2, now)).toBe(2);
    expect(memcachedExpiration(RELATIVE_EXPIRATION_LIMIT, now)).toBe(RELATIVE_EXPIRATION_LIMIT);
  });
  it('switches to an absolute Unix time above 30 days', () => {
    const ttl = RELATIVE_EXPIRATION_LIMIT + 1;
    expect(memcachedExpiration(ttl, now)).toBe(now / 1000 + ttl);
  });
  it('caps a lifetime at 10 years, whatever its source, so the field fits memcached\'s 32 bits', () => {
    const tenYears = now / 1000 + MAX_LIFETIME_SECONDS;
    expect(memcachedExpiration(100 * 365 * 86400, now)).toBe(tenYears);
    expect(memcachedExpiration(9_999_999_999, now)).toBe(tenYears);
    expect(memcachedExpiration(1e300, now)).toBe(tenYears);
    // A clock far in the future still gets a field below 2^32.
    expect(memcachedExpiration(MAX_LIFETIME_SECONDS, Date.UTC(2100, 0, 1))).toBe(2 ** 32 - 1);
  });
  it('maps timeouts of 0, below 0 or infinite to "never expires"', () => {
    expect(memcachedExpiration(0, now)).toBe(0);
    expect(memcachedExpiration(-30, now)).toBe(0);
    expect(memcachedExpiration(Infinity, now)).toBe(0);
  });
});

describe('session codec', () => {
  const session = { cookie: { originalMaxAge: null, path: '/' }, user: 'ada', cart: [1, 2], secret: 'x' };
  it('round-trips, with the cookie kept apart from the attributes', () => {
    const encoded = encodeSession(session);
    expect(decodeSession(storedJson(encoded))).toEqual(session);
    const touched = encodeSession({ ...session, cookie: { ...session.cookie, expires: 'later' } });
    expect(touched.body).toBe(encoded.body);
    expect(encodeSession({ ...session, user: 'bob' }).body).not.toBe(encoded.body);
  });
  it('applies sessionAttributeFilter to stored attributes', () => {
    const encoded = encodeSession(session, /^(user|cart)$/);
    expect(decodeSession(storedJson(encoded))).toEqual({ cookie: session.cookie, user: 'ada', cart: [1, 2] });
  });
  it('rejects corrupt data with a CorruptSessionError', () => {
    for (const raw of ['{"cookie":', 'null', '[1]', '{"a":1}', Buffer.from([0xff, 0xfe])]) {
      expect(() => decodeSession(raw)).toThrow(CorruptSessionError);
    }
  });
  it('names size and limit for a session too large for one item', () => {
    const big = { body: 'x'.repeat(2000), cookie: null };
    expect(() => checkItemSize('k', big, 1024)).toThrow(SessionTooLargeError);
    expect(() => checkItemSize('k', big, 1024)).toThrow(/2128 bytes serialized, over memcached's item size limit of 1024 bytes/);
    expect(() => checkItemSize('k', { body: 'x'.repeat(100), cookie: null }, 1024)).not.toThrow();
  });
  it('only looks for unsealed copies under ids that were valid memcached keys', () => {
    expect(unsealedKey('app:', 'abc.route')).toBe('app:abc.route');
    expect(unsealedKey('', 'has space')).toBeUndefined();
    expect(unsealedKey('', 'x'.repeat(251))).toBeUndefined();
    expect(unsealedKey('', '')).toBeUndefined();
    expect(unsealedKey('', 'x'.repeat(250))).toBe('x'.repeat(250));
  });
});
