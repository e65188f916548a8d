/** How a suite picks containers or local servers from its provider variable (MSM_TEST_MEMCACHED, MSM_TEST_REDIS). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseContainers } from '../helpers/provider-choice.js';

const VARIABLE = 'MSM_TEST_PROVIDER_CHOICE';
const PROVIDERS = ['container', 'binary'] as const;
const available = () => Promise.resolve(undefined);
const unavailable = () => Promise.resolve('no container runtime is reachable');

afterEach(() => {
  delete process.env[VARIABLE];
});

describe('chooseContainers', () => {
  it('unset: containers when they are available, else not, saying why', async () => {
    expect(await chooseContainers(VARIABLE, PROVIDERS, available)).toEqual({ requested: undefined, containers: true, skipped: undefined });
    expect(await chooseContainers(VARIABLE, PROVIDERS, unavailable)).toEqual({ requested: undefined, containers: false, skipped: 'no container runtime is reachable' });
  });

  it('container: demanded, so unavailable containers are an error naming the variable and the reason', async () => {
    process.env[VARIABLE] = 'container';
    expect((await chooseContainers(VARIABLE, PROVIDERS, available)).containers).toBe(true);
    await expect(chooseContainers(VARIABLE, PROVIDERS, unavailable)).rejects.toThrow(`${VARIABLE}=container, but no container runtime is reachable`);
  });

  it('another provider: containers are not even checked', async () => {
    process.env[VARIABLE] = 'binary';
    const check = vi.fn(available);
    expect(await chooseContainers(VARIABLE, PROVIDERS, check)).toEqual({ requested: 'binary', containers: false });
    expect(check).not.toHaveBeenCalled();
  });

  it('an unknown provider is an error listing the known ones', async () => {
    process.env[VARIABLE] = 'docker';
    await expect(chooseContainers(VARIABLE, PROVIDERS, available)).rejects.toThrow(`${VARIABLE}=docker: expected container, binary, or unset to pick one`);
  });
});
