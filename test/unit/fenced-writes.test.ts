/**
 * Fenced writes (non-sticky, locking on) between two processes that disagree about which nodes
 * are up, with the node both write to hanging: an in-memory fake of memcached's CAS semantics
 * stands in for the nodes (the same case runs against real memcached in chaos-locking.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { SessionCopies } from '../../src/failover/session-copies.js';
import { UNSEALED_COPIES } from '../../src/format/copy-codec.js';
import type { StorageCluster } from '../../src/failover/cluster.js';
import type { StorageNode } from '../../src/storage/storage-node.js';
import { Statistics } from '../../src/base/statistics.js';
import { isHomeMajority } from '../../src/failover/write-quorum.js';
import { SessionConflictError, SessionStoreUnavailableError } from '../../src/base/errors.js';
import { decodeCopy, encodeCopy, type VersionedCopy } from '../../src/format/versioned-copy.js';

/** One memcached node: items with CAS values; `hung` makes every call fail as a missed deadline would. */
class FakeNode {
  readonly items = new Map<string, { value: string; cas: bigint }>();
  hung = false;
  private nextCas = 1n;

  async gets(key: string) {
    const item = this.items.get(key);
    return item ? { value: Buffer.from(item.value), cas: item.cas } : null;
  }

  /** add when `cas` is undefined, else compare-and-swap; null when refused. */
  async storeIf(key: string, value: Buffer | string, _expiration: number, cas: bigint | undefined) {
    const item = this.items.get(key);
    if (cas === undefined ? item !== undefined : item?.cas !== cas) return null;
    const stored = { value: String(value), cas: this.nextCas++ };
    this.items.set(key, stored);
    return stored.cas;
  }

  async set(key: string, value: Buffer | string) {
    this.items.set(key, { value: String(value), cas: this.nextCas++ });
  }

  async deleteIf(key: string, cas: bigint) {
    if (this.items.get(key)?.cas !== cas) return false;
    return this.items.delete(key);
  }

  /** A node that restarted: empty, and its CAS counter starts over. */
  restartEmpty() {
    this.items.clear();
    this.nextCas = 1n;
  }
}

/** A process's view of the cluster: the nodes it believes are up, in the key's ring order. */
function view(nodes: Record<string, FakeNode>, up: string[]): StorageCluster {
  return {
    kind: 'memcached',
    nodesFor: (_key: string, count: number) => up.slice(0, count),
    readNodesFor: (_key: string, count: number) => up.slice(0, count),
    spareNodesFor: (_key: string, tried: readonly string[], missing: number) => up.filter((node) => !tried.includes(node)).slice(0, missing),
    mayHideCopies: () => false,
    homeNodes: () => Object.keys(nodes),
    readsHomeMajority: (_key: string, answered: string[]) => isHomeMajority(Object.keys(nodes), answered),
    ringGeneration: () => 0,
    run: async <T>(id: string, op: (client: StorageNode) => Promise<T>) => {
      if (nodes[id].hung) throw new Error(`memcached ${id} did not answer within 500 ms`);
      return op(nodes[id] as unknown as StorageNode);
    },
  } as unknown as StorageCluster;
}

const KEY = 'session-key';
const v1: VersionedCopy = { version: 1, ttl: 60, json: '{"n":1}' };

/** Both processes loaded v1; X, Y, Z in ring order; P1 sees all up, P2 believes X is down. */
async function setup() {
  const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
  for (const node of [nodes.X, nodes.Y]) await node.storeIf(KEY, encodeCopy(v1), 0, undefined);
  const casOf = async (id: 'X' | 'Y' | 'Z') => (await nodes[id].gets(KEY))?.cas;
  const p1 = new SessionCopies(view(nodes, ['X', 'Y', 'Z']), new Statistics(false), UNSEALED_COPIES, 2);
  const p2 = new SessionCopies(view(nodes, ['Y', 'Z']), new Statistics(false), UNSEALED_COPIES, 2);
  const fence1 = { loaded: v1, cas: new Map([['X', await casOf('X')], ['Y', await casOf('Y')]]) };
  const fence2 = { loaded: v1, cas: new Map([['Y', await casOf('Y')], ['Z', await casOf('Z')]]) };
  nodes.Y.hung = true; // the node both would write to
  const write = (copies: SessionCopies, fence: typeof fence1, json: string) =>
    copies.writeFenced(KEY, { version: 2, ttl: 60, json }, copies.nodesFor(KEY, 2), fence).then(
      () => 'acknowledged',
      (err) => (err instanceof SessionConflictError ? 'conflict' : `failed: ${err}`),
    );
  const newest = () =>
    Object.values(nodes)
      .map((n) => n.items.get(KEY))
      .flatMap((item) => (item ? [decodeCopy(item.value)!] : []))
      .sort((a, b) => b.version - a.version)[0];
  return { nodes, write: { p1: () => write(p1, fence1, '{"n":"p1"}'), p2: () => write(p2, fence2, '{"n":"p2"}') }, newest };
}

describe('fenced writes while two processes disagree about the nodes and the shared node hangs', () => {
  it('the first to write wins, the second gets a conflict, not a second acknowledgement (P1 first)', async () => {
    const { write, newest } = await setup();
    expect(await write.p1()).toBe('acknowledged'); // X, and Z as the spare for hung Y
    expect(await write.p2()).toBe('conflict'); // Z already holds version 2
    expect(newest().json).toBe('{"n":"p1"}');
  });

  it('the same with P2 first: P2 reaches only Z (one of the three home nodes), so its write is undone and fails; P1 wins', async () => {
    const { nodes, write, newest } = await setup();
    expect(await write.p2()).toMatch(/failed: SessionStoreUnavailableError: .*two of its home memcached node\(s\) X, Y, Z/);
    expect(nodes.Z.items.get(KEY)).toBeUndefined(); // undone
    expect(await write.p1()).toBe('acknowledged');
    expect(newest().json).toBe('{"n":"p1"}');
  });
});

/**
 * A version acknowledged on X and Z, then X restarted empty: Y (stale) and X (empty) are the
 * session's usual nodes, and only Z still holds the newest version.
 */
async function newestOnlyOnTheThirdNode() {
  const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
  const v2: VersionedCopy = { version: 2, ttl: 60, json: '{"n":"acknowledged"}' };
  for (const node of [nodes.X, nodes.Y, nodes.Z]) await node.storeIf(KEY, encodeCopy(v1), 0, undefined);
  const staleCas = { X: (await nodes.X.gets(KEY))!.cas, Y: (await nodes.Y.gets(KEY))!.cas };
  for (const node of [nodes.X, nodes.Z]) await node.storeIf(KEY, encodeCopy(v2), 0, (await node.gets(KEY))!.cas);
  nodes.X.restartEmpty();
  const copies = new SessionCopies(view(nodes, ['X', 'Y', 'Z']), new Statistics(false), UNSEALED_COPIES, 2);
  const versionOn = (id: 'X' | 'Y' | 'Z') => {
    const item = nodes[id].items.get(KEY);
    return item ? decodeCopy(item.value)!.version : undefined;
  };
  return { nodes, copies, staleCas, versionOn };
}

describe('a node that restarted empty next to a stale one does not hide the newest version', () => {
  it('a read asks the next node when its two nodes hold fewer than two copies', async () => {
    const { copies } = await newestOnlyOnTheThirdNode();
    expect((await copies.read(KEY)).copy?.json).toBe('{"n":"acknowledged"}');
  });

  it('a read whose extra node does not answer returns what it found, but spreads nothing', async () => {
    const { nodes, copies, versionOn } = await newestOnlyOnTheThirdNode();
    nodes.Z.hung = true;
    const result = await copies.read(KEY);
    expect(result.copy?.version).toBe(1);
    expect(result.complete).toBe(false);
    await copies.fill(KEY, result);
    expect(versionOn('X')).toBeUndefined(); // not refilled with the stale version
  });

  it('a write from the stale version (a lock holder that reuses its cached copy) gets a conflict', async () => {
    const { copies, staleCas, versionOn } = await newestOnlyOnTheThirdNode();
    const fence = { loaded: v1, cas: new Map(Object.entries(staleCas)) };
    const write = copies.writeFenced(KEY, { version: 2, ttl: 60, json: '{"n":"late"}' }, ['X', 'Y'], fence);
    await expect(write).rejects.toBeInstanceOf(SessionConflictError);
    expect([versionOn('X'), versionOn('Y'), versionOn('Z')]).toEqual([undefined, 1, 2]); // undone; the newest stays
  });

  it('the same write while that node cannot be asked fails as unavailable, not acknowledged', async () => {
    const { nodes, copies, staleCas, versionOn } = await newestOnlyOnTheThirdNode();
    nodes.Z.hung = true;
    const fence = { loaded: v1, cas: new Map(Object.entries(staleCas)) };
    const write = copies.writeFenced(KEY, { version: 2, ttl: 60, json: '{"n":"late"}' }, ['X', 'Y'], fence);
    await expect(write).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect([versionOn('X'), versionOn('Y')]).toEqual([undefined, 1]);
  });
});

describe('a process that reaches one of three home nodes trusts nothing it reads there, and gets no write acknowledged', () => {
  /** v2 acknowledged on Y and Z by a process that saw X down; X still holds v1; P sees only X up. */
  async function onlyTheStaleNodeInView() {
    const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
    await nodes.X.storeIf(KEY, encodeCopy(v1), 0, undefined);
    for (const node of [nodes.Y, nodes.Z]) await node.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":2}' }), 0, undefined);
    return { nodes, p: new SessionCopies(view(nodes, ['X']), new Statistics(false), UNSEALED_COPIES, 2) };
  }

  it('a read that finds an older copy there fails as unavailable, instead of serving it', async () => {
    const { p } = await onlyTheStaleNodeInView();
    await expect(p.read(KEY)).rejects.toThrow(/fewer than two of the session's home memcached nodes could be read/);
  });

  it('a read that finds nothing there fails as unavailable, instead of answering "no session"', async () => {
    const { nodes, p } = await onlyTheStaleNodeInView();
    nodes.X.restartEmpty();
    await expect(p.read(KEY)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
  });

  it('an unlocked write (or a destroy) reaching one home node is not acknowledged', async () => {
    const { p } = await onlyTheStaleNodeInView();
    const write = p.writeToHomeMajority(KEY, { version: 2, ttl: 60, json: '{"n":"p"}' }, ['X']);
    await expect(write).rejects.toThrow(/could not be written to two of its home memcached nodes X, Y, Z/);
  });

  it('with two home nodes in view, both are read and the newest wins', async () => {
    const { nodes } = await onlyTheStaleNodeInView();
    const p = new SessionCopies(view(nodes, ['X', 'Y']), new Statistics(false), UNSEALED_COPIES, 2);
    expect((await p.read(KEY)).copy?.version).toBe(2);
    expect(await p.writeToHomeMajority(KEY, { version: 3, ttl: 60, json: '{"n":3}' }, ['X', 'Y'])).toEqual(['X', 'Y']);
  });
});

describe('a newest copy in doubt is served, but neither spread nor built on until the doubt outlasts any write', () => {
  const GRACE_MS = 100;
  /** `setup` writes the nodes; the SessionCopies runs on a clock the test moves. */
  async function cluster(setup: (nodes: Record<'X' | 'Y' | 'Z', FakeNode>) => Promise<void>) {
    const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
    await setup(nodes);
    const clock = { now: 0 };
    const copies = new SessionCopies(view(nodes, ['X', 'Y', 'Z']), new Statistics(false), UNSEALED_COPIES, 2, { graceMs: GRACE_MS, now: () => clock.now });
    const jsonOn = (id: 'X' | 'Y' | 'Z') => {
      const item = nodes[id].items.get(KEY);
      return item ? decodeCopy(item.value)!.json : undefined;
    };
    return { copies, clock, jsonOn };
  }

  it('of two contents of one version, the one most nodes hold is served; the other is repaired only after the grace', async () => {
    // X holds the copy of a write that was refused (or is still on its way); Y and Z another write of that version.
    const { copies, clock, jsonOn } = await cluster(async (nodes) => {
      await nodes.X.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":"refused"}' }), 0, undefined);
      for (const node of [nodes.Y, nodes.Z]) await node.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":"acknowledged"}' }), 0, undefined);
    });
    const first = await copies.read(KEY);
    expect(first.copy?.json).toBe('{"n":"acknowledged"}');
    expect(first.stale).toEqual(['X']);
    expect(first.doubtful).toBe(true);
    expect(await copies.fill(KEY, first)).toBe(false);
    expect(jsonOn('X')).toBe('{"n":"refused"}');
    // A write built on it touches no node.
    const fence = { loaded: first.copy, cas: first.cas, doubtful: first.doubtful };
    await expect(copies.writeFenced(KEY, { version: 3, ttl: 60, json: '{"n":3}' }, ['X', 'Y'], fence)).rejects.toBeInstanceOf(SessionConflictError);
    expect([jsonOn('X'), jsonOn('Y')]).toEqual(['{"n":"refused"}', '{"n":"acknowledged"}']);
    clock.now += GRACE_MS;
    const later = await copies.read(KEY);
    expect(later.doubtful).toBe(false);
    expect(await copies.fill(KEY, later)).toBe(true);
    expect(jsonOn('X')).toBe('{"n":"acknowledged"}');
  });

  it('a newest version on one node while the other holds an older one (a write in flight) is not copied before the grace', async () => {
    const { copies, clock, jsonOn } = await cluster(async (nodes) => {
      await nodes.X.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":"in flight"}' }), 0, undefined);
      await nodes.Y.storeIf(KEY, encodeCopy(v1), 0, undefined);
    });
    const first = await copies.read(KEY);
    expect(first.copy?.json).toBe('{"n":"in flight"}');
    expect(first.doubtful).toBe(true);
    expect(await copies.fill(KEY, first)).toBe(false);
    expect(jsonOn('Y')).toBe(v1.json);
    clock.now += GRACE_MS;
    expect(await copies.repair(KEY)).toBe(true);
    expect(jsonOn('Y')).toBe('{"n":"in flight"}');
  });

  it('a newest version on one node next to an empty one (a node that restarted) is repaired at once', async () => {
    // Z, asked in addition, holds an older copy left there by an earlier fault: that is no doubt.
    const { copies, jsonOn } = await cluster(async (nodes) => {
      await nodes.Y.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":2}' }), 0, undefined);
      await nodes.Z.storeIf(KEY, encodeCopy(v1), 0, undefined);
    });
    const result = await copies.read(KEY);
    expect(result.doubtful).toBe(false);
    expect(await copies.fill(KEY, result)).toBe(true);
    expect(jsonOn('X')).toBe('{"n":2}');
    // With both own nodes holding the newest copy, the older one left on Z is removed.
    expect(jsonOn('Z')).toBeUndefined();
  });

  it('the wait starts again when the copies change (a write that started later lands)', async () => {
    let nodesRef: Record<'X' | 'Y' | 'Z', FakeNode> | undefined;
    const { copies, clock, jsonOn } = await cluster(async (nodes) => {
      nodesRef = nodes;
      await nodes.X.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":"first"}' }), 0, undefined);
      await nodes.Y.storeIf(KEY, encodeCopy(v1), 0, undefined);
    });
    expect((await copies.read(KEY)).doubtful).toBe(true);
    clock.now += GRACE_MS - 1;
    const y = (await nodesRef!.Y.gets(KEY))!;
    await nodesRef!.Y.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, json: '{"n":"second"}' }), 0, y.cas);
    expect((await copies.read(KEY)).doubtful).toBe(true);
    clock.now += GRACE_MS - 1;
    expect(await copies.repair(KEY)).toBe(false);
    expect([jsonOn('X'), jsonOn('Y')]).toEqual(['{"n":"first"}', '{"n":"second"}']);
    clock.now += 1;
    expect(await copies.repair(KEY)).toBe(true);
  });
});

describe('a write finds its own copy where a repair put it (same version and write id)', () => {
  /** X holds the loaded v1; a repair (another process read X while this write was on its way) already added the write's copy to Y. */
  async function repairedAhead(onZ?: VersionedCopy) {
    const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
    const mine: VersionedCopy = { version: 2, ttl: 60, writeId: 'w-mine', json: '{"n":2}' };
    await nodes.X.storeIf(KEY, encodeCopy(v1), 0, undefined);
    await nodes.Y.storeIf(KEY, encodeCopy(mine), 0, undefined);
    if (onZ) await nodes.Z.storeIf(KEY, encodeCopy(onZ), 0, undefined);
    const copies = new SessionCopies(view(nodes, ['X', 'Y', 'Z']), new Statistics(false), UNSEALED_COPIES, 2);
    // The request read X (v1) and Y (empty) before the repair.
    const fence = { loaded: v1, cas: new Map([['X', (await nodes.X.gets(KEY))!.cas], ['Y', undefined]]) };
    const onNode = (id: 'X' | 'Y' | 'Z') => {
      const item = nodes[id].items.get(KEY);
      return item ? decodeCopy(item.value) : undefined;
    };
    return { write: () => copies.writeFenced(KEY, mine, ['X', 'Y'], fence), onNode };
  }

  it('counts it as written and is acknowledged', async () => {
    const { write, onNode } = await repairedAhead();
    await expect(write()).resolves.toBeInstanceOf(Map);
    expect([onNode('X')?.writeId, onNode('Y')?.writeId]).toEqual(['w-mine', 'w-mine']);
  });

  it('when refused, removes that copy too, so no copy of a refused write is left behind', async () => {
    const { write, onNode } = await repairedAhead({ version: 3, ttl: 60, json: '{"n":"newer"}' });
    await expect(write()).rejects.toBeInstanceOf(SessionConflictError);
    expect(onNode('X')).toEqual(v1);
    expect(onNode('Y')).toBeUndefined();
  });

  it('another write of the same version and content (no write id in common) is not taken for its own', async () => {
    const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
    await nodes.X.storeIf(KEY, encodeCopy(v1), 0, undefined);
    await nodes.Y.storeIf(KEY, encodeCopy({ version: 2, ttl: 60, writeId: 'w-other', json: '{"n":2}' }), 0, undefined);
    const copies = new SessionCopies(view(nodes, ['X', 'Y', 'Z']), new Statistics(false), UNSEALED_COPIES, 2);
    const fence = { loaded: v1, cas: new Map([['X', (await nodes.X.gets(KEY))!.cas], ['Y', undefined]]) };
    const mine: VersionedCopy = { version: 2, ttl: 60, writeId: 'w-mine', json: '{"n":2}' };
    await expect(copies.writeFenced(KEY, mine, ['X', 'Y'], fence)).rejects.toBeInstanceOf(SessionConflictError);
  });
});

describe('a repair removes a left-over copy only while two home nodes keep the session', () => {
  /** X and Z hold v2, Y nothing; the repairing process saw only Z up when it chose its own nodes, and X came up before it asked the next one. */
  async function oneOwnNode() {
    const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
    const v2: VersionedCopy = { version: 2, ttl: 60, json: '{"n":2}' };
    for (const node of [nodes.X, nodes.Z]) await node.storeIf(KEY, encodeCopy(v2), 0, undefined);
    const cluster = { ...view(nodes, ['Z', 'X']), readNodesFor: () => ['Z'] } as unknown as StorageCluster;
    return { nodes, v2, copies: new SessionCopies(cluster, new Statistics(false), UNSEALED_COPIES, 2) };
  }

  it('keeps the copy found on the next node when the own nodes are one home node: a read of the two others still finds the session', async () => {
    const { nodes, v2, copies } = await oneOwnNode();
    expect(await copies.repair(KEY)).toBe(true);
    expect(nodes.X.items.has(KEY)).toBe(true);
    const other = new SessionCopies(view(nodes, ['X', 'Y']), new Statistics(false), UNSEALED_COPIES, 2);
    expect((await other.read(KEY)).copy).toEqual(v2);
  });

  it('removes it once two home nodes hold the newest copy', async () => {
    const nodes = { X: new FakeNode(), Y: new FakeNode(), Z: new FakeNode() };
    const v2: VersionedCopy = { version: 2, ttl: 60, json: '{"n":2}' };
    await nodes.X.storeIf(KEY, encodeCopy(v2), 0, undefined);
    await nodes.Y.storeIf(KEY, encodeCopy(v1), 0, undefined);
    await nodes.Z.storeIf(KEY, encodeCopy(v2), 0, undefined);
    // Own nodes X and Y (Y stale, repaired); Z asked in addition holds v2 as well: a left-over.
    const cluster = { ...view(nodes, ['X', 'Y', 'Z']), readNodesFor: () => ['X', 'Y'] } as unknown as StorageCluster;
    const copies = new SessionCopies(cluster, new Statistics(false), UNSEALED_COPIES, 2);
    expect(await copies.repair(KEY)).toBe(true);
    expect(decodeCopy(nodes.Y.items.get(KEY)!.value)).toEqual(v2);
    expect(nodes.Z.items.has(KEY)).toBe(false);
  });
});
