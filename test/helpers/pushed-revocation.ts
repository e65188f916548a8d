/**
 * Scenarios of revocation tokens pushed between app processes, shared by the backends that push
 * them (Redis, peers): each backend supplies how its storage calls are counted.
 */
import { expect } from 'vitest';
import { Client } from './http.js';
import type { AppProcess } from './app-process.js';

/** The session id in a client's cookie (signed, with its route). */
export const sessionIdOf = (client: Client) => decodeURIComponent(client.cookie!.split('=')[1]).slice(2).replace(/\.[^.]*$/, '');

/** The session's data as the app serving `client` reads it. */
export const sessionData = async (client: Client) => (await client.json<{ data: Record<string, unknown> }>('/read')).data;

/** Destroys `client`'s session through the store of the app at `url` (not the one serving it). */
export async function destroyFrom(url: string, client: Client): Promise<void> {
  const destroyed = await fetch(`${url}/store-destroy?sid=${encodeURIComponent(sessionIdOf(client))}`);
  expect(await destroyed.json()).toEqual({ destroyed: true });
}

/**
 * Whether `reads` reads of `client`'s session (holding `user`) went by with `calls()` unchanged.
 * Tried up to three times: a process stalled for most of operationTimeout (a loaded CI machine)
 * rightly stops trusting its feed and reads the tokens once; a broken push costs calls every time.
 */
export async function readsCostNothing(calls: () => Promise<number>, client: Client, user: string, reads: number): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = await calls();
    for (let i = 0; i < reads; i++) expect((await sessionData(client)).user).toBe(user);
    if ((await calls()) === before) return true;
  }
  return false;
}

/** The owner is paused (SIGSTOP) while `other` destroys the session; once resumed it refuses it. */
export async function pausedThroughDestroy(owner: AppProcess, other: AppProcess): Promise<void> {
  const client = new Client(owner.url);
  await client.get('/set?user=ada');
  await sessionData(client);
  owner.child.kill('SIGSTOP');
  try {
    // The destroy waits for the owner's acknowledgement until the operation timeout, then answers.
    await destroyFrom(other.url, client);
  } finally {
    owner.child.kill('SIGCONT');
  }
  expect((await sessionData(client)).user).toBeUndefined();
}
