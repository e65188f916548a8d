import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/base/errors.js';
import { resolveManagerSettings } from '../../src/options.js';

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

describe('revocationCheckTimeout', () => {
  it('defaults to 50 ms (operationTimeout when that is shorter) and accepts up to operationTimeout', () => {
    expect(resolveManagerSettings({ secret: 'it', memcachedNodes: nodes })!.revocationCheckTimeout).toBe(50);
    expect(resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, operationTimeout: 20 })!.revocationCheckTimeout).toBe(20);
    expect(resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, revocationCheckTimeout: 1000 })!.revocationCheckTimeout).toBe(1000);
  });

  it('refuses anything else at startup, naming the option', () => {
    for (const bad of [0, -1, Number.NaN, '100', null]) {
      expect(() => resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, revocationCheckTimeout: bad as never })).toThrow(/"revocationCheckTimeout" must be a positive number/);
    }
    expect(() => resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, revocationCheckTimeout: 1001 })).toThrow(/"revocationCheckTimeout" must be at most operationTimeout \(1000 ms\)/);
    expect(() => resolveManagerSettings({ secret: 'it', memcachedNodes: nodes, sticky: false, revocationCheckTimeout: 10 })).toThrow(/only applies to sticky mode/);
  });
});
