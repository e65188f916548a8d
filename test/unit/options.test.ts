import { describe, expect, it } from 'vitest';
import session, { OptionError } from '../../src/index.js';
import { resolveManagerSettings } from '../../src/options.js';

const base = { secret: 's', resave: false, saveUninitialized: false };
const nodes = 'n1:127.0.0.1:11211,n2:127.0.0.1:11212';
const redisNodes = 'r1:127.0.0.1:6379,r2:127.0.0.1:6380';

/** Starting the middleware with `options` fails with an OptionError naming `option`, its message matching `message`. */
function expectOptionError(options: Record<string, unknown>, option: string, message: RegExp): void {
  let error: unknown;
  try {
    session({ ...base, ...options } as never);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(OptionError);
  expect((error as OptionError).option).toBe(option);
  expect((error as Error).message).toMatch(message);
}

describe('invalid MSM options fail at startup and name the option', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['memcachedNodes', { memcachedNodes: 'localhost' }, /"memcachedNodes" has an invalid entry "localhost"/],
    ['memcachedNodes', { memcachedNodes: 'n1:h:1,n1:h:2' }, /"memcachedNodes" names node id "n1" twice/],
    ['memcachedNodes', { memcachedNodes: 'n1:h:70000' }, /"memcachedNodes" has an invalid entry/],
    ['memcachedNodes', { memcachedNodes: 42 }, /"memcachedNodes" must be a string/],
    ['failoverNodes', { memcachedNodes: nodes, failoverNodes: 'n9' }, /"failoverNodes" names unknown node id "n9"/],
    ['failoverNodes', { memcachedNodes: nodes, failoverNodes: 'n1 n2' }, /"failoverNodes" lists every node/],
    ['store', { memcachedNodes: nodes, store: new session.MemoryStore() }, /"store" cannot be combined with "memcachedNodes"/],
    ['operationTimeout', { memcachedNodes: nodes, operationTimeout: -5 }, /"operationTimeout" must be a positive number, got -5/],
    ['sessionBackupTimeout', { memcachedNodes: nodes, sessionBackupTimeout: '100' }, /"sessionBackupTimeout" must be a positive number, got "100"/],
    ['sticky', { memcachedNodes: nodes, sticky: 'yes' }, /"sticky" must be true or false/],
    ['requestUriIgnorePattern', { requestUriIgnorePattern: '([' }, /"requestUriIgnorePattern" is not a valid regular expression/],
    ['sessionAttributeFilter', { memcachedNodes: nodes, sessionAttributeFilter: 7 }, /"sessionAttributeFilter" must be a regular expression/],
    ['storageKeyPrefix', { memcachedNodes: nodes, storageKeyPrefix: 'has space' }, /"storageKeyPrefix" must be at most 100 printable/],
    ['route', { memcachedNodes: nodes, route: 'a.b' }, /"route" must be 1-64 letters/],
    ['route', { memcachedNodes: nodes, route: 'a', sticky: false }, /"route" only makes sense with sticky/],
    ['password', { memcachedNodes: nodes, username: 'u' }, /"password" must be given together/],
    ['encryptSessions', { memcachedNodes: nodes, encryptSessions: 'no' }, /"encryptSessions" must be true or false/],
    ['acceptUnsealedSessions', { memcachedNodes: nodes, acceptUnsealedSessions: 1 }, /"acceptUnsealedSessions" must be true or false/],
    ['maxLocalSessions', { memcachedNodes: nodes, maxLocalSessions: 1.5 }, /"maxLocalSessions" must be a whole number/],
    ['enabled', { memcachedNodes: nodes, enabled: 'no' }, /"enabled" must be true or false/],
    ['lockingMode', { memcachedNodes: nodes, sticky: false, lockingMode: 'sometimes' }, /"lockingMode" must be "none", "all", "auto" or "uriPattern:<regex>"/],
    ['lockingMode', { memcachedNodes: nodes, sticky: false, lockingMode: 'uriPattern:([' }, /"lockingMode" has an invalid uriPattern/],
    ['lockingMode', { memcachedNodes: nodes, lockingMode: 'all' }, /"lockingMode" only applies to non-sticky mode/],
    ['lockExpiration', { memcachedNodes: nodes, sticky: false, lockExpiration: 1 }, /"lockExpiration" must be a whole number of seconds, at least 2/],
    ['lockFailure', { memcachedNodes: nodes, sticky: false, lockFailure: 'maybe' }, /"lockFailure" must be "closed" or "open"/],
    ['touchOnlyUriPattern', { touchOnlyUriPattern: '(' }, /"touchOnlyUriPattern" is not a valid regular expression/],
    ['cookie.maxAge', { cookie: { maxAge: '1h' } }, /"cookie.maxAge" must be a number of milliseconds \(giving a valid date\) or null, got "1h"/],
    ['cookie.maxAge', { cookie: { maxAge: 1e300 } }, /"cookie.maxAge" must be a number of milliseconds \(giving a valid date\) or null, got 1e\+300/],
    ['cookie.maxAge', { cookie: { maxAge: Number.NaN } }, /"cookie.maxAge" must be a number/],
    ['cookie.sameSite', { cookie: { sameSite: 'bogus' } }, /"cookie.sameSite" must be true, false, "lax"/],
    ['cookie.domain', { cookie: { domain: 'exa mple.com' } }, /"cookie.domain" must be a domain name/],
    ['cookie.domain', { cookie: { domain: 'http://example.com' } }, /"cookie.domain" must be a domain name/],
    ['cookie.path', { cookie: { path: 'a;b' } }, /"cookie.path" must be a path/],
    ['cookie.secure', { cookie: { secure: 'yes' } }, /"cookie.secure" must be true, false or "auto"/],
    ['cookie.expires', { cookie: { expires: 'tomorrow' } }, /"cookie.expires" must be a valid Date/],
    ['cookie', { cookie: 'x' }, /"cookie" must be an object or a function/],
    ['memcachedNodes', { memcachedNodes: ',' }, /"memcachedNodes" lists no node, got ","/],
    ['memcachedNodes', { memcachedNodes: 'n1:127.0.0.1:11211,n2:127.0.0.1:11211' }, /"memcachedNodes" names 127.0.0.1:11211 twice \(ids "n1" and "n2"\)/],
    ['operationTimeout', { memcachedNodes: nodes, operationTimeout: 1e12 }, /"operationTimeout" must be at most 2147483647, got 1000000000000/],
    ['sessionBackupTimeout', { memcachedNodes: nodes, sessionBackupTimeout: Infinity }, /"sessionBackupTimeout" must be at most 2147483647/],
    ['failoverNodes', { failoverNodes: 'n1' }, /"failoverNodes" only applies with "memcachedNodes"/],
    ['lockingMode', { lockingMode: 'all' }, /"lockingMode" only applies with "memcachedNodes"/],
    ['operationTimeout', { operationTimeout: 500 }, /"operationTimeout" only applies with "memcachedNodes"/],
    ['maxInactiveInterval', { memcachedNodes: nodes, maxInactiveInterval: 100 * 365 * 86400 }, /"maxInactiveInterval" must be at most 315360000 seconds \(10 years/],
    ['cookie.maxAge', { memcachedNodes: nodes, cookie: { maxAge: 36_500 * 86_400_000 } }, /"cookie.maxAge" must be at most 315360000000 ms \(10 years\), got 3153600000000/],
    ['requestDeadline', { memcachedNodes: nodes, sticky: false, requestDeadline: 500 }, /"requestDeadline" must be at least operationTimeout \(1000 ms\)/],
    ['requestDeadline', { memcachedNodes: nodes, sticky: false, requestDeadline: 'soon' }, /"requestDeadline" must be a positive number/],
    ['requestDeadline', { memcachedNodes: nodes, requestDeadline: 5000 }, /"requestDeadline" only applies to non-sticky mode/],
    // Redis: redisNodes instead of memcachedNodes, never both.
    ['redisNodes', { redisNodes, memcachedNodes: 'n1:127.0.0.1:11211' }, /"redisNodes" cannot be combined with "memcachedNodes": sessions are kept in one backend/],
    ['redisNodes', { redisNodes: 'localhost' }, /"redisNodes" has an invalid entry "localhost"; expected "id:host:port"/],
    ['redisNodes', { redisNodes: 42 }, /"redisNodes" must be a string like "r1:127.0.0.1:6379,r2:127.0.0.1:6380"/],
    ['redisNodes', { redisNodes: 'r1:h:1,r1:h:2' }, /"redisNodes" names node id "r1" twice/],
    ['redisNodes', { redisNodes: ' , ' }, /"redisNodes" lists no node/],
    ['redisNodes', { redisNodes: 'r1:127.0.0.1:6379,r2:127.0.0.1:6379' }, /"redisNodes" names 127.0.0.1:6379 twice/],
    ['failoverNodes', { redisNodes, failoverNodes: 'n1' }, /"failoverNodes" names unknown node id "n1" \(not in redisNodes\)/],
    ['failoverNodes', { failoverNodes: 'r1' }, /"failoverNodes" only applies with "memcachedNodes", "redisNodes" or "peers"/],
    ['store', { redisNodes, store: new session.MemoryStore() }, /"store" cannot be combined with "redisNodes"/],
    ['username', { redisNodes, username: 'u', password: 'p' }, /"username" is memcached SASL; with "redisNodes" use redisUsername and redisPassword/],
    ['password', { redisNodes, password: 'p' }, /"password" is memcached SASL/],
    ['redisUsername', { memcachedNodes: 'n1:127.0.0.1:11211', redisUsername: 'u', redisPassword: 'p' }, /"redisUsername" only applies with "redisNodes"/],
    ['redisPassword', { redisPassword: 'p' }, /"redisPassword" only applies with "redisNodes"/],
    ['redisPassword', { redisNodes, redisUsername: 'app' }, /"redisPassword" must be given with redisUsername/],
    ['redisPassword', { redisNodes, redisPassword: 7 }, /"redisPassword" must be a string/],
    ['redisTls', { redisNodes, redisTls: 'yes' }, /"redisTls" must be true, false or an object of tls.connect options, got "yes"/],
    ['lockingMode', { redisNodes, lockingMode: 'all' }, /"lockingMode" only applies to non-sticky mode/],
    ['secret', { secret: undefined }, /"secret" is required/],
    ['secret', { secret: '' }, /"secret" is required/],
    ['secret', { secret: ['a', 7] }, /"secret" must be non-empty strings or Buffers, got 7/],
    ['secret', { secret: Buffer.alloc(0) }, /"secret" must be non-empty strings or Buffers, got an empty Buffer/],
    ['secret', { secret: [Buffer.from('k'), ''] }, /"secret" must be non-empty strings or Buffers, got an empty string/],
    ['secret', { secret: { key: 'k' } }, /"secret" must be non-empty strings or Buffers, got an object$/],
  ];
  for (const [option, options, message] of cases) {
    it(`${option}: ${message.source}`, () => expectOptionError(options, option, message));
  }

  it('accepts a valid configuration and closes cleanly', async () => {
    const middleware = session({ ...base, memcachedNodes: nodes, failoverNodes: 'n2', route: 'app1' });
    expect(middleware.nodes()).toEqual({ n1: true, n2: true });
    await middleware.close();
  });

  it('accepts every valid cookie attribute, and a cookie function unchecked', async () => {
    const cookie = { maxAge: 60_000, sameSite: 'Strict', domain: '.example.com', path: '/app', secure: 'auto', httpOnly: true, priority: 'high' };
    expect(() => session({ ...base, cookie } as never)).not.toThrow();
    expect(() => session({ ...base, cookie: { maxAge: null, sameSite: false } } as never)).not.toThrow();
    expect(() => session({ ...base, cookie: () => ({}) })).not.toThrow();
  });

  it('enabled: false keeps sessions in this process (no memcached)', () => {
    const middleware = session({ ...base, memcachedNodes: nodes, enabled: false });
    expect(middleware.nodes()).toEqual({});
  });
});

describe('startup warnings', () => {
  function warnings(options: Record<string, unknown>): Array<{ fields: Record<string, unknown>; message: string }> {
    const seen: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const record = (fields: unknown, message?: unknown) => seen.push({ fields: fields as Record<string, unknown>, message: String(message) });
    session({ ...options, logger: { info: () => undefined, warn: record, error: record } } as never);
    return seen;
  }

  it('an unknown option is named, with the closest known one', () => {
    const seen = warnings({ ...base, memcachedNode: nodes });
    expect(seen).toHaveLength(1);
    expect(seen[0].fields).toEqual({ event: 'unknown_option', option: 'memcachedNode', suggestion: 'memcachedNodes' });
    expect(seen[0].message).toMatch(/unknown option "memcachedNode" is ignored; did you mean "memcachedNodes"\?/);
    expect(warnings({ ...base, saveUnintialized: true })[0].fields.suggestion).toBe('saveUninitialized');
    expect(warnings({ ...base, completelyDifferent: 1 })[0].message).not.toMatch(/did you mean/);
  });

  it('unset resave and saveUninitialized, as express-session warns', () => {
    const seen = warnings({ secret: 's' });
    expect(seen.map((w) => w.fields)).toEqual([
      { event: 'deprecated_default', option: 'resave' },
      { event: 'deprecated_default', option: 'saveUninitialized' },
    ]);
    expect(seen[0].message).toMatch(/deprecated undefined resave option; provide resave option/);
  });

  it('MemoryStore with NODE_ENV=production, not with memcachedNodes', async () => {
    const env = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const seen = warnings(base);
      expect(seen.map((w) => w.fields.event)).toEqual(['memory_store_in_production']);
      expect(seen[0].message).toMatch(/MemoryStore is not designed for a production environment/);
      expect(warnings({ ...base, store: new session.MemoryStore() })).toEqual([]);
      expect(warnings({ ...base, memcachedNodes: nodes })).toEqual([]);
    } finally {
      process.env.NODE_ENV = env;
    }
  });
});

describe('peers: replication between app processes', () => {
  const peers = 'a:127.0.0.1:47901,b:127.0.0.1:47902,c:127.0.0.1:47903';
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['peers', { peers: 'a:127.0.0.1:7901', self: 'a' }, /"peers" must list at least two app processes/],
    ['peers', { peers: 'a:h', self: 'a' }, /"peers" has an invalid entry "a:h"/],
    ['peers', { peers: 'a:h:1,a:h:2', self: 'a' }, /"peers" names node id "a" twice/],
    ['peers', { peers: 'a:h:1,b:h:1', self: 'a' }, /"peers" names h:1 twice/],
    ['peers', { peers: 7, self: 'a' }, /"peers" must be a string/],
    ['self', { peers }, /"self" must name this process's entry in "peers" \(one of a, b, c\), got undefined/],
    ['self', { peers, self: 'd' }, /"self" must name this process's entry in "peers" \(one of a, b, c\), got "d"/],
    ['replication', { peers, self: 'a', replication: 'some' }, /"replication" must be "backup" or "all", got "some"/],
    ['sticky', { peers, self: 'a', sticky: false }, /"sticky" must be true with "peers"/],
    ['memcachedNodes', { peers, self: 'a', memcachedNodes: nodes }, /"memcachedNodes" cannot be combined with "peers"/],
    ['failoverNodes', { peers, self: 'a', failoverNodes: 'b' }, /"failoverNodes" cannot be combined with "peers"/],
    ['username', { peers, self: 'a', username: 'u', password: 'p' }, /"username" cannot be combined with "peers"/],
    ['store', { peers, self: 'a', store: new session.MemoryStore() }, /"store" cannot be combined with "peers"/],
    ['self', { self: 'a' }, /"self" only applies with "peers"/],
    ['replication', { memcachedNodes: nodes, replication: 'all' }, /"replication" only applies with "peers"/],
  ];
  for (const [option, options, message] of cases) {
    it(`${option}: ${message.source}`, () => expectOptionError(options, option, message));
  }

  it('accepts a peer list: every peer is a node, this one up at once', async () => {
    const middleware = session({ ...base, peers, self: 'a', replication: 'all', operationTimeout: 200 });
    expect(Object.keys(middleware.nodes())).toEqual(['a', 'b', 'c']);
    expect(middleware.nodes().a).toBe(true);
    await middleware.close();
  });
});

describe('valid Redis options', () => {
  it('redisNodes selects the Redis backend; every mode and failover option applies', () => {
    const settings = resolveManagerSettings({
      ...base,
      redisNodes,
      failoverNodes: 'r2',
      sticky: false,
      lockingMode: 'all',
      operationTimeout: 300,
      redisUsername: 'app',
      redisPassword: 'secret',
      redisTls: { rejectUnauthorized: false },
    })!;
    expect(settings.nodes).toEqual([
      { id: 'r1', host: '127.0.0.1', port: 6379 },
      { id: 'r2', host: '127.0.0.1', port: 6380 },
    ]);
    expect(settings.failoverNodeIds).toEqual(['r2']);
    expect(settings.lockingMode.kind).toBe('all');
    expect(settings.redis).toEqual({ username: 'app', password: 'secret', tls: { rejectUnauthorized: false } });
    expect(resolveManagerSettings({ ...base, memcachedNodes: 'n1:127.0.0.1:11211' })!.redis).toBeUndefined();
  });

  it('a one-node list, a password for the default user alone, redisTls true', () => {
    const settings = resolveManagerSettings({ ...base, redisNodes: 'r1:redis.internal:6379', redisPassword: 'p', redisTls: true })!;
    expect(settings.nodes).toEqual([{ id: 'r1', host: 'redis.internal', port: 6379 }]);
    expect(settings.redis).toEqual({ username: undefined, password: 'p', tls: true });
  });

  it('builds a middleware over Redis nodes and closes cleanly (no server needed until the first request)', async () => {
    const middleware = session({ ...base, redisNodes, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    expect(middleware.nodes()).toEqual({ r1: true, r2: true });
    await middleware.close();
  });
});
