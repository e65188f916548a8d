/**
 * The faults the other integration tests inject mean the same on every provider: SIGSTOP hangs
 * the node, SIGCONT resumes it, SIGKILL refuses connections, and restart() brings it back empty
 * on the same address (containers included: docker pause, docker kill, a pinned host port).
 */
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { providerName, startMemcached, textCommand, type MemcachedInstance } from '../helpers/memcached.js';

let memcached: MemcachedInstance;
beforeAll(async () => {
  console.log(`memcached provider: ${await providerName()}`);
  memcached = await startMemcached();
});
afterAll(() => memcached?.stop());

/** How a new connection to the node ends: it answers, hangs, or is refused. */
function probe(m: MemcachedInstance): Promise<'answers' | 'hangs' | 'refused'> {
  return textCommand(m.host, m.port, 'version\r\n', '\r\n').then(
    () => 'answers' as const,
    (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? 'refused' : err.code ? Promise.reject(err) : 'hangs'),
  );
}

const set = (m: MemcachedInstance, key: string) => textCommand(m.host, m.port, `set ${key} 0 0 1\r\nx\r\n`, '\r\n');
const get = (m: MemcachedInstance, key: string) => textCommand(m.host, m.port, `get ${key}\r\n`);

it('SIGSTOP hangs the node and SIGCONT resumes it with its data', async () => {
  await set(memcached, 'kept');
  await memcached.signal('SIGSTOP');
  expect(await probe(memcached)).toBe('hangs');
  await memcached.signal('SIGCONT');
  expect(await probe(memcached)).toBe('answers');
  expect(await get(memcached, 'kept')).toContain('VALUE kept');
});

it('SIGKILL resets open connections and refuses new ones', async () => {
  const open = net.connect(memcached.port, memcached.host);
  await new Promise((resolve) => open.once('connect', resolve));
  const closed = new Promise((resolve) => open.once('close', resolve));
  open.on('error', () => undefined);
  await memcached.signal('SIGKILL');
  await closed;
  expect(await probe(memcached)).toBe('refused');
});

it('restart() brings a killed node back empty on the same address', async () => {
  const address = memcached.address;
  await memcached.restart();
  expect(memcached.address).toBe(address);
  await set(memcached, 'before');
  await memcached.restart();
  expect(memcached.address).toBe(address);
  expect(await get(memcached, 'before')).toBe('END\r\n');
});

it('restart() resumes a paused node', async () => {
  await memcached.signal('SIGSTOP');
  await memcached.restart();
  expect(await probe(memcached)).toBe('answers');
});
