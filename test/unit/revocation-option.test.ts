import { describe, expect, it } from 'vitest';
import { OptionError, resolveManagerSettings } from '../../src/manager/options.js';

const nodes = 'n1:127.0.0.1:11211,n2:127.0.0.1:11212';

describe('revocationCheckInterval', () => {
  it('defaults to 0 (check on every request) and accepts 0 to 2^31-1 ms', () => {
    expect(resolveManagerSettings({ secret: 'it', memcachedNodes: nodes })!.revocationCheckInterval).toBe(0);
    expect(resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, revocationCheckInterval: 2 ** 31 - 1 })!.revocationCheckInterval).toBe(2 ** 31 - 1);
  });

  it('refuses anything else at startup, naming the option', () => {
    for (const bad of [-1, 2 ** 31, Number.NaN, Infinity, '100', null]) {
      expect(() => resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, revocationCheckInterval: bad as never })).toThrow(OptionError);
      expect(() => resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, revocationCheckInterval: bad as never })).toThrow(/"revocationCheckInterval" must be a number of ms from 0 to 2147483647/);
    }
  });
});
