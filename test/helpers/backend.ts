/**
 * The storage backend an integration suite runs over: MSM_TEST_BACKEND=memcached (the default)
 * or redis. A suite written against StorageServer and `nodeListOption` runs unchanged over
 * either (the chaos suites do): `MSM_TEST_BACKEND=redis npx vitest run test/integration/chaos.test.ts`.
 */
import { startMemcached } from './memcached.js';
import { startRedis } from './redis.js';
import type { StorageServer } from './server-process.js';

export type TestBackend = 'memcached' | 'redis';

/** The backend named by MSM_TEST_BACKEND (memcached when unset). */
export function testBackend(): TestBackend {
  const named = process.env.MSM_TEST_BACKEND || 'memcached';
  if (named !== 'memcached' && named !== 'redis') throw new Error(`MSM_TEST_BACKEND=${named}: expected memcached or redis`);
  return named;
}

/** Starts one server of `backend`. */
export function startServer(backend: TestBackend = testBackend()): Promise<StorageServer> {
  return backend === 'redis' ? startRedis() : startMemcached();
}

/** The session() option listing `addresses` (`host:port`) as nodes n1, n2, …: `memcachedNodes` or `redisNodes`. */
export function nodeListOption(addresses: readonly string[], backend: TestBackend = testBackend()): Record<string, string> {
  return { [`${backend}Nodes`]: addresses.map((address, i) => `n${i + 1}:${address}`).join(',') };
}

/** Starts `count` servers of `backend`; `options` names them to session() (ids n1, n2, …). */
export async function startServers(count: number, backend: TestBackend = testBackend()): Promise<{ instances: StorageServer[]; options: Record<string, string>; stop(): Promise<void> }> {
  const instances = await Promise.all(Array.from({ length: count }, () => startServer(backend)));
  return {
    instances,
    options: nodeListOption(instances.map((server) => server.address), backend),
    stop: async () => {
      await Promise.all(instances.map((server) => server.stop()));
    },
  };
}
