import { describe, expect, it } from 'vitest';
import { CorruptSessionError, decodeSession, encodeSession, MAX_SESSION_DEPTH, nestsDeeperThan, attributesJson, storedBody, storedJson } from '../../src/memcached/session-codec.js';

describe('stored session validation', () => {
  it('measures nesting without counting brackets inside strings', () => {
    expect(nestsDeeperThan('{"a":[[1]]}', 3)).toBe(false);
    expect(nestsDeeperThan('{"a":[[[1]]]}', 3)).toBe(true);
    expect(nestsDeeperThan('{"a":"[[[[{{{{\\"[[[["}', 1)).toBe(false);
    expect(nestsDeeperThan('[' .repeat(100_000), 10)).toBe(true);
    // More brackets than the limit, but shallow: the exact scan decides.
    expect(nestsDeeperThan(`[${'[],'.repeat(1000)}[]]`, 3)).toBe(false);
    expect(nestsDeeperThan(`{"a":"${'x'.repeat(20_000)}"}`, 1)).toBe(false);
  });

  it('accepts what the manager stores, including the express-session cookie shape', () => {
    const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), httpOnly: true, path: '/', sameSite: 'lax', secure: false, domain: 'example.test' };
    expect(decodeSession(JSON.stringify({ cookie, user: { name: 'ada', roles: [['x']] } })).user).toEqual({ name: 'ada', roles: [['x']] });
    expect(decodeSession('{"cookie":{"originalMaxAge":null,"expires":null}}').cookie).toEqual({ originalMaxAge: null, expires: null });
  });

  it('refuses wrong shapes with a reason', () => {
    const bad = [
      ['{"cookie":{"originalMaxAge":"x"}}', /originalMaxAge/],
      ['{"cookie":{"expires":"soon"}}', /expires/],
      ['{"cookie":{"sameSite":"bogus"}}', /sameSite is invalid/],
      ['{"cookie":{"path":"a;b"}}', /path is invalid/],
      ['{"cookie":{"serialize":1}}', /unknown cookie attribute "serialize"/],
      [`{"cookie":{},"a":${'['.repeat(MAX_SESSION_DEPTH + 1)}${']'.repeat(MAX_SESSION_DEPTH + 1)}}`, /nested deeper/],
    ] as const;
    for (const [raw, reason] of bad) expect(() => decodeSession(raw)).toThrow(reason);
    expect(() => decodeSession('{"cookie":{"httpOnly":"yes"}}')).toThrow(CorruptSessionError);
  });

  it('refuses to store attributes nested deeper than it would load', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_SESSION_DEPTH + 1; i++) deep = [deep];
    expect(() => encodeSession({ cookie: {}, deep })).toThrow(/nested deeper than 500 levels/);
  });

  it('finds the attributes JSON in what storedJson wrote, and nothing in text written otherwise', () => {
    const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), httpOnly: true, path: '/' };
    for (const session of [{ cookie, user: 'ada', cart: [1, 2], '1': 'x' }, { cookie }]) {
      const text = storedJson(encodeSession(session));
      const data = decodeSession(text);
      // What change detection compares it with: the JSON of the session built from the data.
      expect(storedBody(text, data.cookie)).toBe(attributesJson(data));
    }
    const data = decodeSession(JSON.stringify({ cookie, user: 'ada' }));
    expect(storedBody('{"cookie": {"path":"/"},"user":"ada"}', { path: '/' })).toBeUndefined(); // spaces
    expect(storedBody('{"user":"ada","cookie":{"path":"/"}}', { path: '/' })).toBeUndefined(); // cookie not first
    expect(storedBody('{"cookie":{"path":"/"}}x', { path: '/' })).toBeUndefined();
    expect(storedBody(JSON.stringify({ cookie, user: 'ada' }), data.cookie)).toBe('{"user":"ada"}');
  });
});
