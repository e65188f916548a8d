import { describe, expect, it } from 'vitest';
import { CorruptSessionError, decodeSession, encodeSession, MAX_SESSION_DEPTH, nestsDeeperThan, storedBody, storedJson } from '../../src/format/session-codec.js';
import { attributesJson, primitiveAttributes, sameAttributes } from '../../src/session/change-detection.js';

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
    expect((decodeSession(JSON.stringify({ cookie, user: { name: 'ada', roles: [['x']] } })) as { user?: unknown }).user).toEqual({ name: 'ada', roles: [['x']] });
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

  it('tells an unchanged session of primitive attributes without serializing it, and any change as one', () => {
    const make = () => ({ cookie: { path: '/' }, user: 'ada', n: 1, ok: true, none: null, gone: undefined, big: 'x'.repeat(20_000) });
    const before = primitiveAttributes(make())!;
    expect(before).toEqual(['user', 'ada', 'n', 1, 'ok', true, 'none', null, 'gone', undefined, 'big', 'x'.repeat(20_000)]);
    // Equal values (not only the same strings) and a changed cookie are "the same attributes".
    expect(sameAttributes({ ...make(), cookie: { path: '/x' } }, before)).toBe(true);
    const changes: Array<(s: Record<string, unknown>) => void> = [
      (s) => (s.n = 2),
      (s) => (s.n = '1'),
      (s) => (s.big = `${'x'.repeat(19_999)}y`),
      (s) => (s.extra = 1),
      (s) => delete s.none,
      (s) => delete s.big,
      (s) => (s.gone = 0),
      (s) => (s.user = { name: 'ada' }),
    ];
    for (const change of changes) {
      const session: Record<string, unknown> = make();
      change(session);
      expect(sameAttributes(session, before)).toBe(false);
    }
    // The same names and values in another order serialize differently: not the same.
    const { user, ...rest } = make();
    expect(sameAttributes({ ...rest, user }, before)).toBe(false);
    // NaN is never identical to itself: reported as changed (an extra save at worst, never a missed one).
    expect(sameAttributes({ v: NaN }, primitiveAttributes({ v: NaN })!)).toBe(false);
    // Values that can change inside, or serialize through code, leave the decision to the JSON.
    for (const value of [{}, [], new Date(0), () => 1, 1n, Symbol('s')]) expect(primitiveAttributes({ cookie: {}, a: 1, value })).toBeUndefined();
    expect(primitiveAttributes({ cookie: { path: '/' } })).toEqual([]);
  });
});
