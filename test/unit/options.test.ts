import { describe, expect, it } from 'vitest';
import session, { OptionError } from '../../src/index.js';

const base = { secret: 's', resave: false, saveUninitialized: false };
const nodes = 'n1:127.0.0.1:11211,n2:127.0.0.1:11212';

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
    ['maxLocalSessions', { memcachedNodes: nodes, maxLocalSessions: 1.5 }, /"maxLocalSessions" must be a whole number/],
    ['enabled', { memcachedNodes: nodes, enabled: 'no' }, /"enabled" must be true or false/],
    ['lockingMode', { memcachedNodes: nodes, sticky: false, lockingMode: 'sometimes' }, /"lockingMode" must be "none", "all", "auto" or "uriPattern:<regex>"/],
    ['lockingMode', { memcachedNodes: nodes, sticky: false, lockingMode: 'uriPattern:([' }, /"lockingMode" has an invalid uriPattern/],
    ['lockingMode', { memcachedNodes: nodes, lockingMode: 'all' }, /"lockingMode" only applies to non-sticky mode/],
    ['lockExpiration', { memcachedNodes: nodes, sticky: false, lockExpiration: 1 }, /"lockExpiration" must be a whole number of seconds, at least 2/],
    ['lockFailure', { memcachedNodes: nodes, sticky: false, lockFailure: 'maybe' }, /"lockFailure" must be "closed" or "open"/],
    ['touchOnlyUriPattern', { touchOnlyUriPattern: '(' }, /"touchOnlyUriPattern" is not a valid regular expression/],
  ];
  for (const [option, options, message] of cases) {
    it(`${option}: ${message.source}`, () => {
      let error: unknown;
      try {
        session({ ...base, ...options } as never);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(OptionError);
      expect((error as OptionError).option).toBe(option);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('accepts a valid configuration and closes cleanly', async () => {
    const middleware = session({ ...base, memcachedNodes: nodes, failoverNodes: 'n2', route: 'app1' });
    expect(middleware.nodes()).toEqual({ n1: true, n2: true });
    await middleware.close();
  });

  it('enabled: false keeps sessions in this process (no memcached)', () => {
    const middleware = session({ ...base, memcachedNodes: nodes, enabled: false });
    expect(middleware.nodes()).toEqual({});
  });
});
