/**
 * Requests made to one memcached node in one event-loop turn leave in one socket write, and
 * each still gets its own answer.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemcachedNode } from '../../src/storage/memcached/memcached-node.js';
import { startMemcached, type MemcachedInstance } from '../helpers/memcached.js';

let memcached: MemcachedInstance;
beforeAll(async () => {
  memcached = await startMemcached();
});
afterAll(async () => {
  await memcached.stop();
});

/** Counts the writes the socket hands to the operating system (one per write or writev call). */
function countSocketWrites(socket: Socket): () => number {
  let writes = 0;
  const target = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const method of ['_write', '_writev'] as const) {
    const original = target[method].bind(socket);
    target[method] = (...args: unknown[]) => {
      writes++;
      return original(...args);
    };
  }
  return () => writes;
}

it('sends the requests of one event-loop turn in one socket write', async () => {
  const client = new MemcachedNode({ id: 'n1', host: memcached.host, port: memcached.port }, { operationTimeout: 2000 });
  try {
    const keys = Array.from({ length: 20 }, (_, i) => `batch-${i}`);
    await Promise.all(keys.map((key) => client.set(key, `value of ${key}`, 0))); // also connects
    const socket = (client as unknown as { client: { servers: Array<{ _socket: Socket }> } }).client.servers[0]._socket;
    const writes = countSocketWrites(socket);
    const [values, gats] = await Promise.all([
      Promise.all(keys.map((key) => client.get(key))),
      Promise.all(keys.map((key) => client.getAndTouch(key, 100))),
    ]);
    expect(values.map((v) => v?.toString())).toEqual(keys.map((key) => `value of ${key}`));
    expect(gats.map((v) => v?.value.toString())).toEqual(keys.map((key) => `value of ${key}`));
    expect(writes()).toBe(1);
    // The next turn's requests are written again (the socket is not left corked).
    expect((await client.get('batch-0'))?.toString()).toBe('value of batch-0');
    expect(writes()).toBe(2);
  } finally {
    client.close();
  }
});
