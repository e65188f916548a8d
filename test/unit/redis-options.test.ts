/**
 * The Redis options: `redisNodes` instead of `memcachedNodes` (never both), with every mode and
 * failover option, Redis credentials and TLS; memcached's SASL options refused with it.
 */
import { describe, expect, it } from 'vitest';
import session, { OptionError } from '../../src/index.js';
import { resolveManagerSettings } from '../../src/options.js';

const base = { secret: 's', resave: false, saveUninitialized: false };
const redisNodes = 'r1:127.0.0.1:6379,r2:127.0.0.1:6380';

describe('invalid Redis options fail at startup and name the option', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['redisNodes', { redisNodes, memcachedNodes: 'n1:127.0.0.1:11211' }, /"redisNodes" cannot be combined with "memcachedNodes": sessions are kept in one backend/],
    ['redisNodes', { redisNodes: 'localhost' }, /"redisNodes" has an invalid entry "localhost"; expected "id:host:port"/],
    ['redisNodes', { redisNodes: 42 }, /"redisNodes" must be a string like "r1:127.0.0.1:6379,r2:127.0.0.1:6380"/],
    ['redisNodes', { redisNodes: 'r1:h:1,r1:h:2' }, /"redisNodes" names node id "r1" twice/],
    ['redisNodes', { redisNodes: ' , ' }, /"redisNodes" lists no node/],
    ['redisNodes', { redisNodes: 'r1:127.0.0.1:6379,r2:127.0.0.1:6379' }, /"redisNodes" names 127.0.0.1:6379 twice/],
    ['failoverNodes', { redisNodes, failoverNodes: 'n1' }, /"failoverNodes" names unknown node id "n1" \(not in redisNodes\)/],
    ['failoverNodes', { failoverNodes: 'r1' }, /"failoverNodes" only applies with "memcachedNodes" or "redisNodes"/],
    ['store', { redisNodes, store: new session.MemoryStore() }, /"store" cannot be combined with "redisNodes"/],
    ['username', { redisNodes, username: 'u', password: 'p' }, /"username" is memcached SASL; with "redisNodes" use redisUsername and redisPassword/],
    ['password', { redisNodes, password: 'p' }, /"password" is memcached SASL/],
    ['redisUsername', { memcachedNodes: 'n1:127.0.0.1:11211', redisUsername: 'u', redisPassword: 'p' }, /"redisUsername" only applies with "redisNodes"/],
    ['redisPassword', { redisPassword: 'p' }, /"redisPassword" only applies with "redisNodes"/],
    ['redisPassword', { redisNodes, redisUsername: 'app' }, /"redisPassword" must be given with redisUsername/],
    ['redisPassword', { redisNodes, redisPassword: 7 }, /"redisPassword" must be a string/],
    ['redisTls', { redisNodes, redisTls: 'yes' }, /"redisTls" must be true, false or an object of tls.connect options, got "yes"/],
    ['lockingMode', { redisNodes, lockingMode: 'all' }, /"lockingMode" only applies to non-sticky mode/],
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
    expect(settings.backend).toBe('redis');
    expect(settings.nodes).toEqual([
      { id: 'r1', host: '127.0.0.1', port: 6379 },
      { id: 'r2', host: '127.0.0.1', port: 6380 },
    ]);
    expect(settings.failoverNodeIds).toEqual(['r2']);
    expect(settings.lockingMode.kind).toBe('all');
    expect([settings.redisUsername, settings.redisPassword, settings.redisTls]).toEqual(['app', 'secret', { rejectUnauthorized: false }]);
    expect(resolveManagerSettings({ ...base, memcachedNodes: 'n1:127.0.0.1:11211' })!.backend).toBe('memcached');
  });

  it('a one-node list, a password for the default user alone, redisTls true', () => {
    const settings = resolveManagerSettings({ ...base, redisNodes: 'r1:redis.internal:6379', redisPassword: 'p', redisTls: true })!;
    expect(settings.nodes).toEqual([{ id: 'r1', host: 'redis.internal', port: 6379 }]);
    expect([settings.redisUsername, settings.redisPassword, settings.redisTls]).toEqual([undefined, 'p', true]);
  });

  it('builds a middleware over Redis nodes and closes cleanly (no server needed until the first request)', async () => {
    const middleware = session({ ...base, redisNodes, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    expect(middleware.nodes()).toEqual({ r1: true, r2: true });
    await middleware.close();
  });
});
