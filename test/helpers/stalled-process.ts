import { expect } from 'vitest';
import type { StorageNode } from '../../src/storage/storage-node.js';

/**
 * A call whose answer arrived while this process was stalled past the deadline (a long GC, a busy
 * event loop) is answered, not failed: the deadline's timer is due before the socket is read.
 * `client` must have a deadline well under 300 ms.
 */
export async function expectAnswerAfterStall(client: StorageNode): Promise<void> {
  await client.set('busy', 'v', 0);
  const pending = client.get('busy');
  // The request is on its way (sent at the end of the turn); then the process stalls while the
  // answer waits in the socket.
  await new Promise((r) => setImmediate(r));
  const until = Date.now() + 300;
  while (Date.now() < until);
  expect((await pending)?.toString()).toBe('v');
}
