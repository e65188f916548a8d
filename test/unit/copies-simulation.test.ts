/**
 * A seeded, randomized simulation (a small model checker) of the non-sticky copy protocol in
 * SessionCopies: read, fill, repair and fenced writes, used by app processes that disagree
 * about which memcached nodes are up. It checks the guarantee of fenced writes: no
 * acknowledged update is lost.
 *
 * World: 3 in-memory memcached nodes with memcached's CAS semantics (a CAS counter that starts
 * over when a node restarts empty), 2-3 processes each with its own view of which nodes are up
 * (the real ring over it), 2 sessions. Every node call is two steps (request, reply) released in
 * seeded-random order, so concurrent calls interleave at every await.
 * Actors: requests (read, maybe think, append a unique token to the session's list, fenced
 * write from what they read; two requests of different processes may run on one session at
 * once, as when both believe they hold its lock), requests that reuse their process's last
 * copy and CAS without reading (a lock handed over in the process), the repair a read starts,
 * repairs (relocation), and touches that re-add a copy a node lacks (NonStickyMode.touch).
 *
 * Fault model (the guarantee must hold inside it; nothing outside it is generated):
 * - at most one node is faulty at a time: it hangs (calls miss their deadline; memcached runs
 *   them when it resumes, or loses them if it is restarted), or dies and restarts empty, or
 *   restarts empty at once, or only some processes believe it is down for a while;
 * - processes mark a node down (or some never do) and up again later than reality, each at its
 *   own time, so their views differ;
 * - a fault is over once the node answers again, every process believes it is up, and every
 *   process has repaired every session (relocation settled); only then can the next fault start.
 * Requests run throughout, also across faults and settles.
 *
 * Invariants: at each settle (once the requests then in flight are done) and at the end (all up,
 * views agree, one more repair per session), a read returns a copy holding every token whose
 * write was acknowledged, and still does with any one node emptied (the next fault may be any).
 * Violations print the seed, the check that failed and the trace of that session.
 * Reproduce one scenario with its trace: `SIM_SEED=n npx vitest run test/unit/copies-simulation.test.ts`;
 * soak with more: `SIM_RUNS=20000 [SIM_FIRST=n] npx vitest run test/unit/copies-simulation.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { FakeNode, quiesce, Scheduler, seededRandom, SimProcess, Trace } from '../helpers/fake-copies-cluster.js';
import { NodeDownError } from '../../src/failover/cluster.js';
import { SessionConflictError, SessionStoreUnavailableError } from '../../src/base/errors.js';
import type { Fence } from '../../src/failover/session-copies.js';
import { encodeCopy, type VersionedCopy } from '../../src/format/versioned-copy.js';

const NODE_IDS = ['A', 'B', 'C'];
const KEYS = ['s1', 's2'];
const TTL = 60;
/** Ticks in which new requests and faults start; then the scenario winds down. */
const ACTIVE_TICKS = 600;
/** A scenario still busy after this many ticks is reported as stuck (a livelock). */
const MAX_TICKS = 20_000;

interface Violation {
  seed: number;
  key: string;
  locking: boolean;
  message: string;
  trace: string;
}

/** What a process last saw of a session (read or written), as NonStickyMode keeps it for hand-overs. */
interface Seen {
  copy?: VersionedCopy;
  cas: ReadonlyMap<string, bigint | undefined>;
  doubtful?: boolean;
}

type Phase = 'calm' | 'fault' | 'recovering' | 'settling' | 'draining';

class Scenario {
  private readonly random: () => number;
  private readonly scheduler = new Scheduler();
  readonly trace = new Trace();
  private readonly nodes = new Map<string, FakeNode>();
  private readonly processes: SimProcess[] = [];
  /** Sees every node as it is, without steps: the invariant's reader. */
  private readonly observer: SimProcess;
  private readonly acknowledged = new Map(KEYS.map((key) => [key, new Set<number>()]));
  private readonly seen = new Map<string, Seen>();
  private readonly actors = new Set<Promise<void>>();
  /** The last request queued per process and session. */
  private readonly queues = new Map<string, Promise<void>>();
  private timeline: Array<{ at: number; run: () => void }> = [];
  private phase: Phase = 'calm';
  private lastToken = 0;
  private settlers = 0;
  /** Something this tick may have promise reactions pending (an actor started, an event ran, a step was released). */
  private moved = false;
  /** Relocation starts this late after a fault ends (health checks notice a restart late). */
  private settleNotBefore = 0;
  /** Requests take the session's lock on the first node their process sees (else only fences protect). */
  private readonly locking: boolean;
  violation?: Violation;

  constructor(private readonly seed: number) {
    this.random = seededRandom(seed);
    for (const id of NODE_IDS) this.nodes.set(id, new FakeNode(id, this.scheduler));
    const count = this.random() < 0.5 ? 2 : 3;
    for (let i = 1; i <= count; i++) this.processes.push(new SimProcess(`P${i}`, this.nodes, this.trace));
    this.observer = new SimProcess('observer', this.nodes, this.trace, false);
    this.locking = this.random() < 0.5;
    // Each session starts settled: version 1, an empty list, on its first two nodes.
    for (const key of KEYS) {
      for (const id of this.observer.preference(key).slice(0, 2)) this.nodes.get(id)!.put(key, encodeCopy({ version: 1, ttl: TTL, json: '[]' }));
    }
  }

  async run(): Promise<Violation | undefined> {
    const rates = { request: 0.04 + this.random() * 0.08, repair: this.random() * 0.02, touch: this.random() * 0.01, fault: 0.005 + this.random() * 0.02 };
    for (let tick = 0; !this.violation; tick++) {
      this.trace.tick = tick;
      const active = tick < ACTIVE_TICKS;
      if (!active && this.phase === 'calm' && this.actors.size === 0) break;
      if (tick > MAX_TICKS) return this.fail(KEYS[0], `still busy after ${MAX_TICKS} ticks (phase ${this.phase}, ${this.actors.size} actors)`);
      this.runDue(tick);
      if (this.phase === 'recovering' && tick >= this.settleNotBefore && this.processes.every((p) => NODE_IDS.every((id) => p.believes(id)))) this.settle();
      if (this.phase === 'draining' && this.actors.size === 0) await this.drained();
      if (active && this.phase !== 'draining') {
        if (this.random() < rates.request) this.spawn(this.request(this.pickProcess(), this.pickKey(), this.random() < 0.2));
        if (this.random() < rates.repair) this.spawn(this.repair(this.pickProcess(), this.pickKey()).then(() => undefined));
        if (this.random() < rates.touch) this.spawn(this.touch(this.pickProcess(), this.pickKey()));
        if (this.phase === 'calm' && this.random() < rates.fault) this.fault(tick);
      }
      if (this.scheduler.waiting > 0) {
        this.scheduler.release(Math.floor(this.random() * this.scheduler.waiting));
        this.moved = true;
      }
      // Let every reaction to what this tick did run (none to wait for in a tick where nothing moved).
      if (this.moved) await quiesce();
      this.moved = false;
    }
    if (this.violation) return this.violation;
    // The end: all up, views agree, settled; one more repair per session, then every acknowledged token must be there.
    for (const key of KEYS) {
      await this.observer.copies.repair(key);
      await this.check(key, 'at the end');
    }
    return this.violation;
  }

  private pick<T>(from: readonly T[]): T {
    return from[Math.floor(this.random() * from.length)];
  }

  private pickProcess(): SimProcess {
    return this.pick(this.processes);
  }

  private pickKey(): string {
    return this.pick(KEYS);
  }

  private between(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private at(tick: number, run: () => void): void {
    this.timeline.push({ at: tick, run });
  }

  private runDue(tick: number): void {
    const due = this.timeline.filter((e) => e.at <= tick);
    this.timeline = this.timeline.filter((e) => e.at > tick);
    for (const event of due) event.run();
    this.moved ||= due.length > 0;
  }

  private spawn(actor: Promise<void>): void {
    this.moved = true;
    const tracked = actor.catch((err) => void this.fail(KEYS[0], `actor crashed: ${(err as Error).stack}`)).finally(() => this.actors.delete(tracked));
    this.actors.add(tracked);
  }

  private fail(key: string, message: string): Violation {
    this.violation ??= { seed: this.seed, key, locking: this.locking, message, trace: this.trace.of(key) };
    return this.violation;
  }

  /** An error a caller may get (refused, unavailable, a node down or not answering); anything else is a bug. */
  private expected(err: unknown, key: string, who: string): string {
    const ok =
      err instanceof SessionConflictError ||
      err instanceof SessionStoreUnavailableError ||
      err instanceof NodeDownError ||
      /^(memcached \w+ did not answer|connect ECONNREFUSED)/.test((err as Error).message);
    if (!ok) this.fail(key, `${who}: unexpected error ${(err as Error).stack}`);
    return (err as Error).name === 'Error' ? (err as Error).message : (err as Error).name;
  }

  private seenKey(p: SimProcess, key: string): string {
    return `${p.name}/${key}`;
  }

  /**
   * With locking, a request takes the session's lock (memcached add of lock:<key>) on the first
   * node its process sees, waiting while another request holds it; it gives up (fails closed)
   * when that node does not answer. Two requests hold "the" lock at once only when their
   * processes disagree about the first node, or the node restarted and forgot the lock.
   */
  private async lock(p: SimProcess, key: string, token: number): Promise<(() => void) | undefined> {
    for (let attempt = 0; attempt < 30; attempt++) {
      await this.scheduler.step();
      const [first] = p.copies.nodesFor(key, 1);
      const node = first === undefined ? undefined : this.nodes.get(first)!;
      if (!node || node.state !== 'up') return undefined;
      if (node.locks.has(key)) continue;
      node.locks.set(key, token);
      this.trace.add(key, `${p.name} t${token} locks on ${node.id}`);
      return () => {
        // A release that cannot reach the node leaves the lock to expire.
        if (node.state === 'up' && node.locks.get(key) === token) node.locks.delete(key);
        else this.at(this.trace.tick + this.between(20, 200), () => node.locks.get(key) === token && node.locks.delete(key));
      };
    }
    return undefined;
  }

  /** A request: lock, load (or reuse its process's copy), think, append a token, fenced write. */
  private async request(p: SimProcess, key: string, handOver: boolean): Promise<void> {
    const token = ++this.lastToken;
    const who = `${p.name} t${token}`;
    // Requests of one process for one session queue in the process (the lock is handed over).
    const queue = `${p.name}/${key}`;
    const before = this.queues.get(queue) ?? Promise.resolve();
    const turn = before.then(async () => {
      if (!this.locking) return this.update(p, key, handOver, token, who);
      const unlock = await this.lock(p, key, token);
      if (!unlock) return void this.trace.add(key, `${who} could not lock`);
      try {
        await this.update(p, key, handOver, token, who);
      } finally {
        unlock();
      }
    });
    this.queues.set(queue, turn);
    await turn;
  }

  private async update(p: SimProcess, key: string, handOver: boolean, token: number, who: string): Promise<void> {
    let fence: Fence;
    const reused = handOver ? this.seen.get(this.seenKey(p, key)) : undefined;
    if (reused) {
      fence = { loaded: reused.copy, cas: reused.cas, doubtful: reused.doubtful };
      this.trace.add(key, `${who} reuses v${reused.copy?.version ?? '-'} (hand-over)`);
    } else {
      this.trace.add(key, `${who} reads`);
      try {
        const read = await p.copies.read(key, this.random() < 0.5 ? TTL : undefined);
        this.trace.add(key, `${who} read v${read.copy?.version ?? '-'}:${read.copy?.json ?? ''} stale [${read.stale}] failed [${read.failed}] complete ${read.complete}${read.doubtful ? ' DOUBTFUL' : ''}`);
        this.spawn(p.copies.fill(key, read).then(() => undefined, (err) => void this.expected(err, key, `${who} fill`)));
        fence = { loaded: read.copy, cas: read.cas, doubtful: read.doubtful };
        this.seen.set(this.seenKey(p, key), fence.loaded ? { copy: read.copy, cas: read.cas, doubtful: read.doubtful } : { cas: new Map() });
      } catch (err) {
        this.trace.add(key, `${who} read failed: ${this.expected(err, key, `${who} read`)}`);
        return;
      }
    }
    if (!fence.loaded) fence = { cas: new Map() }; // as NonStickyMode: no copy loaded, no fence CAS
    for (let think = this.between(0, 3); think > 0; think--) await this.scheduler.step();
    const list = fence.loaded ? (JSON.parse(fence.loaded.json) as number[]) : [];
    const copy: VersionedCopy = { version: (fence.loaded?.version ?? 0) + 1, ttl: TTL, writeId: `t${token}`, json: JSON.stringify([...list, token]) };
    const nodes = p.copies.nodesFor(key, 2);
    this.trace.add(key, `${who} writes v${copy.version}:${copy.json} to [${nodes}]`);
    try {
      const written = await p.copies.writeFenced(key, copy, nodes, fence);
      this.acknowledged.get(key)!.add(token);
      this.seen.set(this.seenKey(p, key), { copy, cas: written });
      this.trace.add(key, `${who} ACKNOWLEDGED on [${[...written.keys()]}]`);
    } catch (err) {
      this.trace.add(key, `${who} not acknowledged: ${this.expected(err, key, `${who} write`)}`);
    }
  }

  private async repair(p: SimProcess, key: string): Promise<boolean> {
    this.trace.add(key, `${p.name} repair`);
    try {
      const done = await p.copies.repair(key);
      this.trace.add(key, `${p.name} repair -> ${done}`);
      return done;
    } catch (err) {
      this.trace.add(key, `${p.name} repair failed: ${this.expected(err, key, `${p.name} repair`)}`);
      return false;
    }
  }

  /** NonStickyMode.touch: extend the copies, and re-add the process's last copy where one is missing. */
  private async touch(p: SimProcess, key: string): Promise<void> {
    const latest = this.seen.get(this.seenKey(p, key))?.copy;
    if (!latest) return;
    try {
      const missing = await p.copies.touch(key, TTL, p.copies.nodesFor(key, 2));
      if (missing.length === 0) return;
      this.trace.add(key, `${p.name} touch re-adds v${latest.version}:${latest.json} to [${missing}]`);
      const fence = { loaded: latest, cas: new Map(missing.map((node) => [node, undefined])) };
      await p.copies.writeFenced(key, { ...latest, ttl: TTL }, missing, fence);
    } catch (err) {
      this.expected(err, key, `${p.name} touch`);
    }
  }

  /** Starts one fault on one node; it ends by itself, then views catch up, then relocation settles. */
  private fault(now: number): void {
    const node = this.nodes.get(this.pick(NODE_IDS))!;
    const kind = this.pick(['hang', 'hang then restart', 'die then restart', 'restart', 'false down'] as const);
    this.phase = 'fault';
    this.trace.add(undefined, `FAULT ${kind} ${node.id}`);
    let over = false;
    const duration = this.between(5, 250);
    // Processes notice (or not), each at its own time; a "false down" is noticed by some only.
    for (const p of this.processes) {
      if (kind === 'restart' || this.random() < 0.25) continue;
      this.at(now + this.between(0, duration + 20), () => {
        if (over) return;
        p.mark(node.id, false);
        this.trace.add(undefined, `${p.name} marks ${node.id} down`);
      });
    }
    if (kind === 'hang' || kind === 'hang then restart') node.state = 'hung';
    if (kind === 'die then restart') node.state = 'dead';
    const end = () => {
      over = true;
      if (kind === 'hang') node.resume(() => this.random() < 0.8);
      else if (kind !== 'false down') node.restartEmpty();
      this.trace.add(undefined, `${node.id} ${kind === 'hang' ? 'resumes' : kind === 'false down' ? 'was fine' : 'restarted empty'}`);
      for (const p of this.processes) {
        if (p.believes(node.id)) continue;
        this.at(this.trace.tick + this.between(0, 60), () => {
          p.mark(node.id, true);
          this.trace.add(undefined, `${p.name} marks ${node.id} up`);
        });
      }
      this.phase = 'recovering';
      this.settleNotBefore = this.trace.tick + this.between(0, 80);
    };
    if (kind === 'restart') end();
    else this.at(now + duration, end);
  }

  /** Relocation: every process repairs every session until a repair says the copies agree. */
  private settle(): void {
    this.phase = 'settling';
    this.trace.add(undefined, 'SETTLE starts');
    for (const p of this.processes) {
      for (const key of KEYS) {
        this.settlers++;
        this.spawn(
          (async () => {
            for (let attempt = 1; !(await this.repair(p, key)); attempt++) {
              if (attempt >= 200) return void this.fail(key, `${p.name} could not repair ${key} with every node up`);
            }
          })().finally(() => {
            if (--this.settlers === 0) this.settled();
          }),
        );
      }
    }
  }

  /** Settled: new actors wait until those in flight are done, so the check sees no write half done. */
  private settled(): void {
    this.trace.add(undefined, 'SETTLED');
    this.phase = 'draining';
  }

  private async drained(): Promise<void> {
    for (const key of KEYS) await this.check(key, 'after a settle');
    this.phase = 'calm';
  }

  /**
   * The invariants: a read (by a process that sees every node) holds every acknowledged token,
   * and still does if any one node restarts empty next (settled means two copies again).
   */
  private async check(key: string, when: string): Promise<void> {
    const missing = await this.unreadable(key);
    if (missing) return void this.fail(key, `${when}: ${missing}`);
    for (const node of this.nodes.values()) {
      const item = node.items.get(key);
      if (!item) continue;
      node.items.delete(key); // what if this node restarted now (put back right after: nothing runs meanwhile)
      const lost = await this.unreadable(key);
      node.items.set(key, item);
      if (lost) return void this.fail(key, `${when}: not two copies: if ${node.id} restarted empty next, ${lost}`);
    }
  }

  /** Which acknowledged tokens a read now misses (undefined: none). */
  private async unreadable(key: string): Promise<string | undefined> {
    const read = await this.observer.copies.read(key);
    const held = new Set(read.copy ? (JSON.parse(read.copy.json) as number[]) : []);
    const lost = [...this.acknowledged.get(key)!].filter((token) => !held.has(token));
    if (lost.length > 0) return `acknowledged token(s) ${lost.map((t) => `t${t}`).join(', ')} lost; read v${read.copy?.version}:${read.copy?.json}`;
    return undefined;
  }
}

function report(v: Violation): string {
  return `seed ${v.seed} (${v.locking ? 'locking' : 'fences only'}), session ${v.key}: ${v.message}\nreproduce: SIM_SEED=${v.seed} npx vitest run test/unit/copies-simulation.test.ts\n${v.trace}`;
}

const only = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
const runs = Number(process.env.SIM_RUNS ?? 300);
/** First seed of the run (SIM_FIRST), so soak runs can cover new seeds. */
const first = Number(process.env.SIM_FIRST ?? 1);
/** Soak runs (SIM_RUNS) take longer than the suite's default timeout. */
const TIMEOUT = Math.max(30_000, runs * 100);

/** Runs the scenarios of `seeds`; their violations, the first one reported in full. */
async function simulate(seeds: number[]): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const seed of seeds) {
    const scenario = new Scenario(seed);
    const violation = await scenario.run();
    if (violation) violations.push(violation);
    else if (only !== undefined) console.log(KEYS.map((key) => `session ${key}:\n${scenario.trace.of(key)}`).join('\n'));
  }
  if (violations.length > 0) console.error(report(violations[0]));
  return violations;
}

const summary = (v: Violation) => `seed ${v.seed} ${v.locking ? 'locking' : 'fences only'} ${v.key}: ${v.message.split('\n')[0]}`;

describe('simulation: session copies under one faulty node at a time, with views that disagree', () => {
  it(`loses no acknowledged update (${only === undefined ? `${runs} seeded scenarios` : `seed ${only}`})`, async () => {
    const seeds = only === undefined ? Array.from({ length: runs }, (_, i) => first + i) : [only];
    expect((await simulate(seeds)).map(summary)).toEqual([]);
  }, TIMEOUT);
});
