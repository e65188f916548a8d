import { randomToken } from '../base/random-token.js';
import { NodeDownError, type StorageCluster } from '../failover/cluster.js';
import type { Statistics } from '../base/statistics.js';
import { lockKey } from '../format/storage-key.js';
import { SessionLockTimeoutError, SessionStoreUnavailableError } from '../base/errors.js';
import type { Sealing } from '../format/sealing.js';
import { NodeAuthError, NodeConnectionError } from '../storage/call-fault.js';

/** A lock this process holds on one session. */
export interface LockHandle {
  readonly key: string;
  /** The owner token, sealed under the lock's key: what the lock item holds while it is ours. */
  readonly value: Buffer;
  readonly node: string;
  /** Set when a renewal found the lock gone or owned by someone else. */
  lost: boolean;
  /** Whether it came straight from another request of this process (so its cached copy is current). */
  handedOver: boolean;
}

export interface LockSettings {
  /** Lock TTL in memcached, in whole seconds (at least 2: memcached expiry has 1 s granularity). */
  lockExpiration: number;
  /** Longest wait for a lock, in ms. */
  waitTimeout: number;
  /** Seals lock values like every stored value. */
  sealing: Sealing;
}

const FIRST_BACKOFF = 10;
const MAX_BACKOFF = 500;
/** Consecutive in-process hand-overs before the lock goes back to memcached, so other app nodes get a turn. */
const MAX_HANDOVERS = 8;
/** After giving the lock back, this process waits this long before competing again (fairness). */
const YIELD_MS = 20;
/** How often a lock call that failed is checked for having been applied late, in ms. */
const RECLAIM_INTERVAL = 200;

interface Waiter {
  started: number;
  resolve(handle: LockHandle): void;
  reject(err: unknown): void;
  timer?: NodeJS.Timeout;
}

/** This process's interest in one lock: the holder, if any, and the requests queued behind it. */
interface Slot {
  /** The session's key (the lock goes on its node). */
  sessionKey: string;
  handle?: LockHandle;
  renewal?: NodeJS.Timeout;
  handovers: number;
  waiters: Waiter[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Distributed session locks: memcached `add` of `lock:<key>` carrying an owner token, with a
 * TTL renewed while held. Requests of this process for one session queue here; one of them
 * polls memcached (exponential backoff) and the lock is then handed from request to request
 * directly. Release deletes the lock only after checking the token, so a request never frees
 * another's lock.
 */
export class SessionLocks {
  private readonly slots = new Map<string, Slot>();
  private closed = false;

  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly settings: LockSettings,
  ) {}

  async acquire(sessionKey: string): Promise<LockHandle> {
    const started = performance.now();
    const key = lockKey(sessionKey);
    let slot = this.slots.get(key);
    let handle: LockHandle;
    if (slot) {
      this.stats.inc('lockWaits');
      handle = await this.enqueue(slot, started);
    } else {
      slot = { sessionKey, handovers: 0, waiters: [] };
      this.slots.set(key, slot);
      try {
        handle = await this.contend(key, slot, started, 0);
      } catch (err) {
        this.next(key, slot, 0);
        throw err;
      }
    }
    this.stats.inc('locksAcquired');
    this.stats.record('lockWait', performance.now() - started);
    return handle;
  }

  /** Queues behind this process's holder until handed the lock or out of time. */
  private enqueue(slot: Slot, started: number): Promise<LockHandle> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { started, resolve, reject };
      waiter.timer = setTimeout(
        () => {
          slot.waiters.splice(slot.waiters.indexOf(waiter), 1);
          this.stats.inc('lockFailures');
          reject(new SessionLockTimeoutError(this.settings.waitTimeout));
        },
        Math.max(0, this.settings.waitTimeout - (performance.now() - started)),
      );
      slot.waiters.push(waiter);
    });
  }

  /** Polls memcached with `add` and exponential backoff until the lock is ours or time is up. */
  private async contend(key: string, slot: Slot, started: number, delay: number): Promise<LockHandle> {
    const value = this.settings.sealing.seal(key, randomToken(12));
    let backoff = FIRST_BACKOFF;
    let waited = false;
    if (delay > 0) await sleep(delay);
    for (;;) {
      const [node] = this.cluster.nodesFor(slot.sessionKey, 1);
      if (!node) throw new SessionStoreUnavailableError(`no ${this.cluster.kind} node is up to hold the session lock`);
      let added: boolean;
      try {
        added = await this.cluster.run(node, (client) => client.add(key, value, this.settings.lockExpiration));
      } catch (err) {
        // The add may still be applied (a hung node that resumes): make sure it frees nobody's session.
        if (!(err instanceof NodeDownError)) this.reclaim(node, key, value);
        // A connection that failed fast is tried again while time is left: a node that refuses
        // connections is marked down at once, one that keeps closing them after three failures, and
        // the lock then goes to the next node (a dead node holds no lock for anyone). A hung node
        // fails nothing fast: its lock waits end in 503 as before.
        const elapsed = performance.now() - started;
        if (err instanceof NodeConnectionError && !(err instanceof NodeAuthError) && elapsed < this.settings.waitTimeout) {
          await sleep(Math.min(FIRST_BACKOFF, this.settings.waitTimeout - elapsed));
          continue;
        }
        this.stats.inc('lockFailures');
        throw new SessionStoreUnavailableError(`locking the session on ${this.cluster.kind} node ${node} failed`, err);
      }
      if (added) {
        const handle: LockHandle = { key, value, node, lost: false, handedOver: false };
        slot.handle = handle;
        // memcached's 1 s clock can end a TTL of N seconds after N - 1: three renewals fit in that,
        // so one late renewal (a stalled event loop, a slow node) does not lose the lock.
        slot.renewal = setInterval(() => slot.handle && void this.renew(slot.handle), ((this.settings.lockExpiration - 1) * 1000) / 3);
        slot.renewal.unref();
        return handle;
      }
      if (!waited) this.stats.inc('lockWaits');
      waited = true;
      const elapsed = performance.now() - started;
      if (elapsed >= this.settings.waitTimeout) {
        this.stats.inc('lockFailures');
        throw new SessionLockTimeoutError(Math.round(elapsed));
      }
      await sleep(Math.min(backoff * (0.5 + Math.random()), this.settings.waitTimeout - elapsed));
      backoff = Math.min(MAX_BACKOFF, backoff * 2);
    }
  }

  /** Lets the next queued request of this process compete for the lock, or forgets the slot. */
  private next(key: string, slot: Slot, delay: number): void {
    const waiter = slot.waiters.shift();
    if (!waiter) {
      this.slots.delete(key);
      return;
    }
    clearTimeout(waiter.timer);
    this.contend(key, slot, waiter.started, delay).then(waiter.resolve, (err: unknown) => {
      waiter.reject(err);
      this.next(key, slot, 0);
    });
  }

  /**
   * Extends the lock's TTL and reads its owner in one round trip (get-and-touch); marks it lost if
   * it is gone or someone else's. Touching a foreign lock only gives it the TTL its holder renews
   * anyway; a separate get then touch would have the same race, with a wider window.
   */
  private async renew(handle: LockHandle): Promise<void> {
    try {
      const current = await this.cluster.run(handle.node, (client) => client.getAndTouch(handle.key, this.settings.lockExpiration));
      if (!current?.value.equals(handle.value)) {
        handle.lost = true;
        this.stats.inc('locksLost');
      }
    } catch {
      // A failed renewal leaves the lock to its TTL; the next renewal tries again.
    }
  }

  /** Releases the lock: to the next waiting request of this process, or in memcached if still ours. */
  async release(handle: LockHandle): Promise<void> {
    const slot = this.slots.get(handle.key);
    if (!slot || slot.handle !== handle) return; // not (or no longer) the holder
    this.stats.inc('locksReleased');
    const waiter = slot.waiters[0];
    if (waiter && slot.handovers < MAX_HANDOVERS && !handle.lost) {
      slot.waiters.shift();
      clearTimeout(waiter.timer);
      slot.handovers++;
      slot.handle = { ...handle, handedOver: true };
      waiter.resolve(slot.handle);
      return;
    }
    clearInterval(slot.renewal);
    slot.handle = undefined;
    slot.handovers = 0;
    if (!handle.lost) {
      try {
        await this.deleteIfOurs(handle.node, handle.key, handle.value);
      } catch {
        this.reclaim(handle.node, handle.key, handle.value);
      }
    }
    this.next(handle.key, slot, YIELD_MS);
  }

  /** Deletes the lock if it holds `value` (compare-and-delete: a lock someone else took since stays); true if deleted. */
  private async deleteIfOurs(node: string, key: string, value: Buffer): Promise<boolean> {
    const current = await this.cluster.run(node, (client) => client.gets(key));
    if (!current?.value.equals(value)) return false;
    return this.cluster.run(node, (client) => client.deleteIf(key, current.cas));
  }

  /**
   * A lock call that failed (no answer in time) may still be applied when its node resumes,
   * leaving a lock nobody holds. Until the lock would have expired anyway, keeps checking the node
   * in the background and deletes the lock if it holds our value, so later requests are not
   * blocked for lockExpiration. (A node that answered "no lock" may still apply the late call
   * afterwards: it came on another connection, so checking continues to the end.)
   */
  private reclaim(node: string, key: string, value: Buffer): void {
    const until = performance.now() + this.settings.lockExpiration * 1000;
    const attempt = async (): Promise<void> => {
      if (this.closed) return;
      try {
        if (await this.deleteIfOurs(node, key, value)) return;
      } catch {
        // Still unreachable: try again.
      }
      if (performance.now() + RECLAIM_INTERVAL < until) setTimeout(() => void attempt(), RECLAIM_INTERVAL).unref();
    };
    setTimeout(() => void attempt(), RECLAIM_INTERVAL).unref();
  }

  /** Stops renewals (shutdown); locks not released expire by their TTL. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots.values()) clearInterval(slot.renewal);
  }
}
