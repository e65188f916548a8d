/**
 * A process starting in `replication: 'all'` pulls its peers' copies: `scan` pages through a
 * store in key order over a real endpoint, within the frame bound; pullState takes the union of
 * two peers, never replaces what the store already holds, and skips a peer that fails or is empty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PeerEndpoint } from '../../src/storage/peers/peer-endpoint.js';
import { PeerStore } from '../../src/storage/peers/peer-store.js';
import { PeerConnection } from '../../src/storage/peers/peer-connection.js';
import { LocalTransport, PeerNode } from '../../src/storage/peers/peer-node.js';
import { linkKey } from '../../src/storage/peers/peer-channel.js';
import { MAX_MESSAGE_OVERHEAD, OP, Request } from '../../src/storage/peers/peer-protocol.js';
import { pullState } from '../../src/storage/peers/state-pull.js';
import { NodeConnectionError } from '../../src/storage/call-fault.js';
import { Sealing } from '../../src/format/sealing.js';

const KEY = linkKey('the secret');
const ITEM_LIMIT = 4096;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const newStore = (now?: () => number) => new PeerStore({ itemSizeLimit: ITEM_LIMIT, maxBytes: 1 << 24 }, now);
const put = (store: PeerStore, key: string, value: string, ttl = 0) => store.answer(new Request(OP.set, key, ttl, 0n, Buffer.from(value)));
const get = (store: PeerStore, key: string) => store.answer(new Request(OP.get, key, 0, 0n, Buffer.alloc(0)));
const local = (id: string, store: PeerStore) => new PeerNode(id, new LocalTransport(store, () => undefined), ITEM_LIMIT);

describe('scan', () => {
  it('pages through every live item in key order over the network, each page within the frame bound', async () => {
    let now = 1_000_000;
    const store = newStore(() => now);
    const keys = Array.from({ length: 40 }, (_, i) => `key-${String(i).padStart(2, '0')}`);
    for (const key of keys) put(store, key, key.repeat(ITEM_LIMIT / 8).slice(0, ITEM_LIMIT - 10), 60);
    put(store, 'forever', 'f');
    put(store, 'short', 's', 1);
    now += 1500; // 'short' has expired; the others have 58.5 s left
    const endpoint = new PeerEndpoint({ id: 'b', host: '127.0.0.1', port: 0 }, [KEY], store, { maxConnections: 2, maxBody: ITEM_LIMIT + MAX_MESSAGE_OVERHEAD, handshakeTimeout: 500 });
    await endpoint.listen();
    cleanups.push(() => endpoint.close());
    // The client takes frames up to the same bound: a page over it would close the connection.
    const node = new PeerNode('b', new PeerConnection({ id: 'b', host: '127.0.0.1', port: endpoint.port }, KEY, { operationTimeout: 1000, maxBody: ITEM_LIMIT + MAX_MESSAGE_OVERHEAD }), ITEM_LIMIT);
    cleanups.push(() => node.close());
    const seen: Array<[string, number]> = [];
    let pages = 0;
    for (let after = '', more = true; more; pages++) {
      const page = await node.scan(after);
      seen.push(...page.items.map((item): [string, number] => [item.key, item.ttl]));
      more = page.more;
      after = page.items.at(-1)?.key ?? after;
    }
    expect(pages).toBeGreaterThan(10);
    expect(seen.map(([key]) => key)).toEqual(['forever', ...keys]);
    expect(seen[0][1]).toBe(0);
    expect(seen.slice(1).every(([, ttl]) => ttl === 59)).toBe(true);
  });
});

describe('pullState', () => {
  it('takes the union of two peers, keeps what the store already holds, and only the keys selected', async () => {
    const a = newStore();
    const b = newStore();
    const c = newStore();
    put(a, 'x1', 'old x1');
    put(a, 'x2', 'x2 from a');
    put(a, 'revoked:t', 'tombstone');
    put(b, 'x2', 'x2 from b');
    put(b, 'x3', 'x3 from b');
    put(c, 'x4', 'never asked: two peers answered before');
    const target = newStore();
    put(target, 'x1', 'newer x1, written by its owner meanwhile');
    const pulled = await pullState(target, [local('a', a), local('b', b), local('c', c)], (key) => !key.includes(':'));
    expect(pulled).toEqual({ from: ['a', 'b'], copies: 2 });
    expect(get(target, 'x1').value.toString()).toBe('newer x1, written by its owner meanwhile');
    expect(get(target, 'x2').value.toString()).toBe('x2 from a');
    expect(get(target, 'x3').value.toString()).toBe('x3 from b');
    expect(get(target, 'revoked:t').status).not.toBe(0);
    expect(get(target, 'x4').status).not.toBe(0);
  });

  it('passes over a peer that fails or holds nothing; with none holding anything the store stays empty', async () => {
    const failing = new PeerNode('a', { request: () => Promise.reject(new NodeConnectionError('a', 'scan', new Error('refused'))), listen: () => undefined, close: () => undefined }, ITEM_LIMIT);
    const full = newStore();
    put(full, 'x1', 'v');
    const target = newStore();
    expect(await pullState(target, [failing, local('b', newStore()), local('c', full)], () => true)).toEqual({ from: ['c'], copies: 1 });
    expect(target.size).toBe(1);
    const empty = newStore();
    expect(await pullState(empty, [failing, local('b', newStore())], () => true)).toEqual({ from: [], copies: 0 });
    expect(empty.size).toBe(0);
  });
});

describe('Sealing.isSessionKey (what a pull takes)', () => {
  it('is true for session copies under any secret of the list, false for tombstones, indexes and other keys', () => {
    const sealing = new Sealing(['new', 'old'], 'app:');
    expect(sealing.isSessionKey(sealing.sessionKey('id1'))).toBe(true);
    expect(sealing.isSessionKey(sealing.olderSessionKeys('id1')[0])).toBe(true);
    expect(sealing.isSessionKey(sealing.tombstoneKey('id1'))).toBe(false);
    expect(sealing.isSessionKey(sealing.principalKey('ada'))).toBe(false);
    expect(sealing.isSessionKey('app:revoked:token')).toBe(false);
    expect(sealing.isSessionKey(sealing.sessionKey('id1').replace('app:', 'other'))).toBe(false);
  });
});
