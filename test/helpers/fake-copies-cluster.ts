/**
 * In-memory memcached nodes and app-process views for simulating SessionCopies
 * (test/unit/copies-simulation.test.ts). Every node call is two steps a driver releases in
 * any order it likes (the request reaching the node, the reply reaching the process), so the
 * calls of concurrent reads, writes and repairs interleave at every await, reproducibly.
 */
import { StorageCluster, NodeDownError } from '../../src/failover/cluster.js';
import { AvailableRing } from '../../src/failover/ring.js';
import { SessionCopies } from '../../src/failover/session-copies.js';
import { UNSEALED_COPIES } from '../../src/format/copy-codec.js';
import { Statistics } from '../../src/base/statistics.js';
import type { StorageNode } from '../../src/storage/storage-node.js';
import { decodeCopy } from '../../src/format/versioned-copy.js';

/** A seeded pseudo-random source in [0, 1) (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Steps that callers wait on and the driver releases one at a time, in an order it picks. */
export class Scheduler {
  private readonly pending: Array<() => void> = [];

  /** Resolves when the driver releases this step. */
  step(): Promise<void> {
    return new Promise((resolve) => this.pending.push(resolve));
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Releases the step at `index` (0 <= index < waiting). */
  release(index: number): void {
    const [resolve] = this.pending.splice(index, 1);
    resolve();
  }
}

/** Simulated time after which a tie between two contents of one version may be settled. */
export const TIE_GRACE_TICKS = 150;

/** Resolves once every promise reaction queued so far (and those they queue) has run. */
export function quiesce(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What happened, in order: per session key, plus events that concern every key. */
export class Trace {
  private readonly lines: Array<{ key?: string; text: string }> = [];
  tick = 0;

  add(key: string | undefined, text: string): void {
    this.lines.push({ key, text: `${this.tick} ${text}` });
  }

  /** The lines about `key` and the global ones, the last `limit` of them. */
  of(key: string, limit = 400): string {
    const lines = this.lines.filter((l) => l.key === undefined || l.key === key).map((l) => l.text);
    return (lines.length > limit ? [`... ${lines.length - limit} earlier lines`, ...lines.slice(-limit)] : lines).join('\n');
  }
}

/** A stored value as the trace shows it: `v<version>:<json>`. */
function describeValue(value: Buffer | string): string {
  const copy = decodeCopy(value);
  return copy ? `v${copy.version}:${copy.json}` : `?${String(value)}`;
}

/** up: answers; hung: calls miss their deadline but run when it resumes; dead: refuses connections. */
export type NodeState = 'up' | 'hung' | 'dead';

interface Item {
  value: string;
  cas: bigint;
}

/** One memcached node with memcached's CAS semantics. */
export class FakeNode {
  readonly items = new Map<string, Item>();
  /** Session locks held here (lock:<key> items): owner per session key. */
  readonly locks = new Map<string, number>();
  state: NodeState = 'up';
  /** Starts of the node's process: StorageNode tags each CAS with its connection, which a restart breaks. */
  incarnation = 1n;
  private nextCas = 1n;
  /** Calls that reached the node while it hung: memcached runs them once it resumes. */
  private backlog: Array<() => void> = [];

  constructor(
    readonly id: string,
    private readonly scheduler: Scheduler,
  ) {}

  /** Stores without a step (a scenario's initial state). */
  put(key: string, value: string): void {
    this.items.set(key, { value, cas: this.nextCas++ });
  }

  /** Resumes a hung node: it runs the calls it received meanwhile (those `runs` keeps), in order. */
  resume(runs: () => boolean): void {
    for (const call of this.backlog) if (runs()) call();
    this.backlog = [];
    this.state = 'up';
  }

  /** The node restarted: empty, its CAS counter starts over, what it had received is gone. */
  restartEmpty(): void {
    this.items.clear();
    this.locks.clear();
    this.nextCas = 1n;
    this.incarnation++;
    this.backlog = [];
    this.state = 'up';
  }

  /**
   * One call: the request travels (a step), runs at once on the node, the reply travels (a step).
   * A hung node runs the call later and the caller sees a missed deadline; a reply lost to a
   * node that hung or died after running the call fails too, though the call took effect.
   * With `gated` false the call runs without steps (an observer outside the simulation).
   */
  async call<T>(op: () => T, log: (outcome: string) => void, show: (result: T) => string, gated = true): Promise<T> {
    if (!gated) return op();
    await this.scheduler.step();
    if (this.state === 'dead') {
      log('refused (dead)');
      throw new Error(`connect ECONNREFUSED (memcached ${this.id})`);
    }
    if (this.state === 'hung') {
      log('timed out (runs on resume)');
      this.backlog.push(() => log(`ran late: ${show(op())}`));
      throw new Error(`memcached ${this.id} did not answer within 500 ms`);
    }
    const result = op();
    log(show(result));
    await this.scheduler.step();
    if (this.state !== 'up') {
      log('reply lost');
      throw new Error(`memcached ${this.id} did not answer within 500 ms`);
    }
    return result;
  }

  gets(key: string): { value: Buffer; cas: bigint } | null {
    const item = this.items.get(key);
    return item ? { value: Buffer.from(item.value), cas: item.cas } : null;
  }

  /** add when `cas` is undefined, else compare-and-swap; null when refused. */
  storeIf(key: string, value: Buffer | string, cas: bigint | undefined): bigint | null {
    const item = this.items.get(key);
    if (cas === undefined ? item !== undefined : item?.cas !== cas) return null;
    return this.set(key, value);
  }

  set(key: string, value: Buffer | string): bigint {
    const cas = this.nextCas++;
    this.items.set(key, { value: String(value), cas });
    return cas;
  }

  deleteIf(key: string, cas: bigint): boolean {
    return this.items.get(key)?.cas === cas && this.items.delete(key);
  }

  /** Extends an item's lifetime (not modelled: nothing expires); like memcached's, it keeps the CAS. */
  touch(key: string): boolean {
    return this.items.has(key);
  }
}

/** A CAS as StorageNode hands it out: tagged with the connection, here the node's incarnation. */
const tagged = (node: FakeNode, cas: bigint) => (node.incarnation << 64n) | cas;
/** The node's CAS of a tagged one; undefined when it is from an earlier incarnation (StorageNode never sends it). */
const untagged = (node: FakeNode, cas: bigint) => (cas >> 64n === node.incarnation ? BigInt.asUintN(64, cas) : undefined);
const showTagged = (cas: bigint) => `cas ${BigInt.asUintN(64, cas)}${cas >> 64n > 1n ? `@${cas >> 64n}` : ''}`;

const showRead = (r: { value: Buffer; cas: bigint } | null) => (r ? `${describeValue(r.value)} ${showTagged(r.cas)}` : 'miss');
const showCas = (cas: bigint | null) => (cas === null ? 'refused' : `ok ${showTagged(cas)}`);
const casArg = (cas: bigint | undefined) => (cas === undefined ? 'add' : showTagged(cas));

/** The StorageNode calls SessionCopies makes, on `node`, logged under `who`. */
function clientFor(node: FakeNode, who: string, trace: Trace, gated: boolean): StorageNode {
  const call = <T>(key: string, what: string, op: () => T, show: (r: T) => string) =>
    node.call(op, (outcome) => trace.add(key, `${who} ${node.id} ${what} -> ${outcome}`), show, gated);
  const read = (key: string) => {
    const item = node.gets(key);
    return item && { value: item.value, cas: tagged(node, item.cas) };
  };
  const store = (key: string, value: Buffer | string, cas: bigint | undefined) => {
    const raw = cas === undefined ? undefined : untagged(node, cas);
    if (cas !== undefined && raw === undefined) return null;
    const stored = node.storeIf(key, value, raw);
    return stored === null ? null : tagged(node, stored);
  };
  const remove = (key: string, cas: bigint) => {
    const raw = untagged(node, cas);
    return raw !== undefined && node.deleteIf(key, raw);
  };
  const client = {
    gets: (key: string) => call(key, 'gets', () => read(key), showRead),
    getAndTouch: (key: string) => call(key, 'gat', () => (node.touch(key), read(key)), showRead),
    storeIf: (key: string, value: Buffer | string, _exp: number, cas: bigint | undefined) =>
      call(key, `storeIf ${describeValue(value)} ${casArg(cas)}`, () => store(key, value, cas), showCas),
    set: (key: string, value: Buffer | string) => call(key, `set ${describeValue(value)}`, () => void node.set(key, value), () => 'ok'),
    deleteIf: (key: string, cas: bigint) => call(key, `deleteIf ${showTagged(cas)}`, () => remove(key, cas), String),
    delete: (key: string) => call(key, 'delete', () => node.items.delete(key), String),
    touch: (key: string) => call(key, 'touch', () => node.touch(key), String),
  };
  return client as unknown as StorageNode;
}

/**
 * One app process: the nodes it believes are up (which may lag behind the nodes' real state and
 * differ from other processes'), the real ring over them, and its own SessionCopies.
 */
export class SimProcess {
  readonly copies: SessionCopies;
  private readonly believedUp: Set<string>;
  private readonly ring: AvailableRing;

  /** @param gated false for an observer whose calls take no steps and never fail. */
  constructor(
    readonly name: string,
    nodes: ReadonlyMap<string, FakeNode>,
    trace: Trace,
    gated = true,
  ) {
    this.believedUp = new Set(nodes.keys());
    this.ring = new AvailableRing([...nodes.keys()], []);
    this.ring.update((id) => this.believedUp.has(id));
    // The real cluster's ring logic (nodesFor, mayHideCopies), with calls going to the fake nodes.
    const cluster = Object.create(StorageCluster.prototype) as StorageCluster;
    const run = async <T>(id: string, op: (client: StorageNode) => Promise<T>): Promise<T> => {
      if (!this.believedUp.has(id)) throw new NodeDownError('memcached', id);
      return op(clientFor(nodes.get(id)!, name, trace, gated));
    };
    Object.assign(cluster, { ring: this.ring, run, kind: 'memcached', placement: { copies: 1 } });
    // Ties settle after TIE_GRACE_TICKS of simulated time (a write takes far fewer ticks).
    this.copies = new SessionCopies(cluster, new Statistics(true), UNSEALED_COPIES, 2, { graceMs: TIE_GRACE_TICKS, now: () => trace.tick });
  }

  believes(node: string): boolean {
    return this.believedUp.has(node);
  }

  /** The process marks `node` up or down (its health check noticed). */
  mark(node: string, up: boolean): void {
    if (up) this.believedUp.add(node);
    else this.believedUp.delete(node);
    this.ring.update((id) => this.believedUp.has(id));
  }

  /** Every node in the order `key` prefers them (the same in every process). */
  preference(key: string): string[] {
    return this.ring.preference(key);
  }
}
