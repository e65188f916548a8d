import { LoadedSession, type SessionMode } from '../session-mode.js';
import type { Statistics } from '../../base/statistics.js';
import { logEvent, type Logger } from '../../base/logger.js';
import type { Session, SessionRequest } from '../../session/session.js';
import type { SessionData } from '../../session/store.js';
import type { StorageCluster } from '../../failover/cluster.js';
import { SessionConflictError, SessionLockTimeoutError, SessionStoreUnavailableError } from '../../base/errors.js';
import { checkItemSize, CorruptSessionError, decodeSession, encodeSession, SessionTooLargeError, storedBody, storedJson } from '../../format/session-codec.js';
import { NodeAnswerError } from '../../storage/call-fault.js';
import { LoadedFence, READ_NODES, SessionCopies, type Fence } from '../../failover/session-copies.js';
import { reportCorruptSession, unusableCopies } from '../../format/corrupt-session.js';
import { sealedCopies } from '../../format/copy-codec.js';
import { OlderCopies, type OlderCopiesSettings } from '../../failover/older-copies.js';
import { Relocator } from '../../failover/relocation.js';
import { RecentSessions } from './recent-sessions.js';
import { RequestDeadlineError, waitAtMost, withinDeadline } from './request-deadline.js';
import { SessionLocks, type LockHandle } from '../../locking/session-lock.js';
import { LockingPolicy, type LockingMode } from '../../locking/locking-policy.js';
import { requestPath } from '../../base/request-path.js';
import { cappedLifetime } from '../../base/lifetime.js';
import { destroyedCopy, isDestroyed, newWriteId, SessionCopy, type VersionedCopy } from '../../format/versioned-copy.js';
import type { IndexEntry, PrincipalFunction } from '../../revocation/principal-index.js';
import { UserSessions, type IndexedCopy } from '../../revocation/user-sessions.js';

/** What non-sticky mode reads of the settings (see SessionOptions for each). */
export interface NonStickySettings extends OlderCopiesSettings {
  maxInactiveInterval: number;
  maxLocalSessions: number;
  itemSizeLimit: number;
  sessionAttributeFilter?: RegExp;
  operationTimeout: number;
  requestDeadline: number;
  lockingMode: LockingMode;
  lockExpiration: number;
  lockFailOpen: boolean;
  /** The `principal` option (undefined: sessions are not indexed by principal). */
  principal?: PrincipalFunction;
}

/** Copies of each non-sticky session: on the first two distinct nodes of the ring. */
const COPIES = 2;

/** What one request holds of one session: a class, not a literal (see LoadedSession in modes/session-mode.ts). */
class Hold {
  /** Version the request loaded (0: none existed). */
  version = 0;
  lock: LockHandle | undefined = undefined;
  /** The request wrote the session. */
  modified = false;
  /** The request is over (finished, or its client went away) and no longer holds the session. */
  released = false;
  /** Lifetime (s) the load's get-and-touch gave the copies: a touch for the same lifetime is not needed. */
  touchedTtl: number | undefined = undefined;
  /** What the request loaded, and the CAS seen with it: its writes are fenced on it. */
  fence: Fence | undefined = undefined;
  /** Time (ms) the request has spent on the session in memcached so far (see requestDeadline). */
  spent = 0;
  /** How long its read of the copies took (ms; 0 without one): what a write to the same nodes is expected to take. */
  readTime = 0;
  /** A read the deadline cut short, still running: the lock is kept until it ends, as it updates the shared copy. */
  abandonedRead: Promise<unknown> | undefined = undefined;
  /** The principal of the session as loaded or last written (recorded in its index). */
  principal: string | undefined = undefined;
  constructor(readonly key: string) {}
}

/** A read of both copies that also extended them (get-and-touch) to `ttl` seconds (a class, as Hold). */
class TouchingRead {
  constructor(
    readonly copy: VersionedCopy | undefined,
    readonly ttl: number,
  ) {}
}

/** A session in use by requests of this process: one shared copy, reference-counted (a class, as Hold). */
class InUse {
  refs = 0;
  latest: VersionedCopy | undefined = undefined;
  /** The CAS per node seen with `latest` (replaced, never changed, so a hold may keep it). */
  cas: ReadonlyMap<string, bigint | undefined> = new Map();
  /** The read of `latest` was in doubt (see ReadResult.doubtful): writes built on it are refused. */
  doubtful = false;
  /** A read in flight, shared by concurrent unlocked requests. */
  reading: Promise<TouchingRead> | undefined = undefined;
}

function requestKind(req: SessionRequest | undefined): { method: string; path: string } {
  return req ? { method: req.method ?? 'GET', path: requestPath(req) } : { method: 'GET', path: '/' };
}

/**
 * Non-sticky mode: memcached holds the primary copy and a second copy on the next node; this
 * process holds a session only while requests use it. Writes land on both copies before the
 * response completes (read-your-writes on any node). Optional locking serializes requests.
 */
export class NonStickyMode implements SessionMode {
  readonly touches = true;
  private readonly copies: SessionCopies;
  private readonly locks: SessionLocks;
  private readonly policy: LockingPolicy;
  private readonly holds = new WeakMap<SessionRequest, Map<string, Hold>>();
  private readonly inUse = new Map<string, InUse>();
  private readonly recent: RecentSessions;
  private readonly relocator: Relocator;
  private readonly older: OlderCopies;
  readonly users: UserSessions | undefined;

  constructor(
    private readonly settings: NonStickySettings,
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    // A fenced write runs at most 15 operations one after another, each within operationTimeout.
    const doubtGraceMs = 16 * settings.operationTimeout;
    this.copies = new SessionCopies(cluster, stats, sealedCopies(settings.sealing), COPIES, {
      graceMs: doubtGraceMs,
      now: () => performance.now(),
    });
    this.older = new OlderCopies(settings, cluster, stats, this.copies, COPIES);
    this.policy = new LockingPolicy(settings.lockingMode);
    this.locks = new SessionLocks(cluster, stats, {
      lockExpiration: settings.lockExpiration,
      waitTimeout: settings.operationTimeout,
      sealing: settings.sealing,
    });
    this.recent = new RecentSessions(settings.maxLocalSessions);
    this.users = settings.principal && new UserSessions(cluster, settings.sealing, this.copies, settings.principal, undefined, (entry, read) => this.revokeEntry(entry, read));
    // A repair of a doubtful copy (see SessionCopies.read) succeeds only once the doubt has
    // lasted graceMs: it is retried past that, or the copy would stay single until next read.
    this.relocator = new Relocator(stats, logger, doubtGraceMs + 4_000);
    cluster.onHealthChange((node) => this.relocate(node));
    stats.gauge('sessionsInUse', () => this.inUse.size);
  }

  async load(id: string, req?: SessionRequest): Promise<LoadedSession | undefined> {
    const key = this.key(id);
    const { method, path } = requestKind(req);
    // Take a reference first, so the shared copy outlives hand-overs between queued requests.
    const shared = this.use(key);
    const hold = new Hold(key);
    const started = performance.now();
    if (this.policy.shouldLock(method, path)) {
      try {
        hold.lock = await this.withinDeadline(this.locks.acquire(key), 0, (late) => void this.locks.release(late));
      } catch (err) {
        if (!(err instanceof SessionLockTimeoutError) || !this.settings.lockFailOpen) {
          this.release(hold);
          throw err;
        }
        this.stats.inc('lockFailOpen');
        logEvent(this.logger, 'warn', { event: 'lock_fail_open' }, `${err.message}; running unlocked (lockFailure: 'open')`);
      }
    }
    const lock = hold.lock;
    if (req) this.holdsOf(req).set(id, hold);
    else this.release(hold); // a load outside a request (store API) holds nothing
    try {
      // Under a lock handed over in this process, or unlocked, the shared copy is current enough.
      const reuse = shared.latest && (lock ? lock.handedOver : true);
      let copy = shared.latest;
      if (!reuse) {
        const reading = performance.now();
        const pending = this.read(id, key, shared, !lock);
        const read = await this.withinDeadline(pending, reading - started).catch((err: unknown) => {
          if (err instanceof RequestDeadlineError) hold.abandonedRead = pending;
          throw err;
        });
        hold.readTime = performance.now() - reading;
        copy = read.copy;
        hold.touchedTtl = read.ttl;
      }
      if (!copy || isDestroyed(copy)) return undefined;
      hold.version = copy.version;
      hold.fence = new LoadedFence(copy, shared.cas, shared.doubtful);
      this.recent.seen(key, copy.ttl);
      const parsing = performance.now();
      const data = decodeSession(copy.json);
      const json = storedBody(copy.json, data.cookie);
      this.stats.record('deserialization', performance.now() - parsing);
      hold.principal = this.loadedPrincipal(data);
      return new LoadedSession(id, data, json);
    } catch (err) {
      if (!(err instanceof CorruptSessionError)) throw err;
      reportCorruptSession(this.logger, this.stats, this.settings.sealing.fingerprint(key), err.message);
      void this.copies.delete(key, this.copies.nodesFor(key, READ_NODES));
      return undefined;
    } finally {
      hold.spent = performance.now() - started;
    }
  }

  async save(id: string, session: Session | SessionData, json?: string): Promise<void> {
    const key = this.key(id);
    const started = performance.now();
    const encoded = encodeSession(session, this.settings.sessionAttributeFilter, json);
    checkItemSize(key, encoded, this.settings.itemSizeLimit);
    const stored = storedJson(encoded);
    this.stats.record('serialization', performance.now() - started);

    const req = (session as Session).req as SessionRequest | undefined;
    const hold = req ? this.holdsOf(req).get(id) : undefined;
    const version = (hold?.version ?? 0) + 1;
    // With locking wanted, every write is fenced: it replaces only the version it loaded, so even
    // two requests that both believe they hold the lock (processes that disagree about which
    // nodes are up) cannot lose an acknowledged update; the later one fails with 409.
    const fenced = hold !== undefined && this.settings.lockingMode.kind !== 'none';
    // A write, once started, is never cut short (that could leave one copy written): it starts only
    // if it is expected to end within the deadline, taking as long as the read of the same copies did.
    if (hold && hold.spent + hold.readTime > this.settings.requestDeadline) {
      this.stats.inc('requestDeadlinesMissed');
      throw new RequestDeadlineError(this.settings.requestDeadline);
    }
    const writeStarted = performance.now();
    const principal = this.users?.principalOf(session);
    // Recorded before the session is written with it: a session the index misses could escape revokeSessionsOf.
    if (principal !== undefined && principal !== hold?.principal) {
      try {
        await this.users!.record(principal, id, this.ttlOf(session));
      } finally {
        if (hold) hold.spent += performance.now() - writeStarted;
      }
    }
    if (hold && !fenced && hold.released && hold.version > 0) {
      // A save after the request let go (its client went away while the handler still ran): never overwrite a version it did not see.
      const current = await this.copies.read(key);
      if ((current.copy?.version ?? 0) > hold.version) {
        this.stats.inc('conflicts');
        throw new SessionConflictError();
      }
    }
    const copy = new SessionCopy(version, this.ttlOf(session), stored, undefined, newWriteId());
    const nodes = this.copies.nodesFor(key, COPIES);
    let cas: ReadonlyMap<string, bigint | undefined> = new Map();
    try {
      if (fenced) cas = await this.copies.writeFenced(key, copy, nodes, hold.fence ?? { cas });
      else await this.copies.writeToHomeMajority(key, copy, nodes);
    } catch (err) {
      if (err instanceof SessionStoreUnavailableError || err instanceof SessionConflictError) throw err;
      if (err instanceof NodeAnswerError && err.tooLarge) throw new SessionTooLargeError(stored.length, this.settings.itemSizeLimit, err.node);
      throw new SessionStoreUnavailableError(`writing the session to ${this.cluster.kind} failed`, err);
    } finally {
      if (hold) hold.spent += performance.now() - writeStarted;
    }
    this.recent.seen(key, copy.ttl);
    if (hold) {
      hold.version = version;
      hold.principal = principal;
      hold.modified = true;
      hold.fence = new LoadedFence(copy, cas);
    }
    const shared = this.inUse.get(key);
    if (shared) {
      shared.latest = copy;
      shared.cas = cas;
      shared.doubtful = false;
    }
  }

  /** Returns nothing when the load already touched the copies (the response then need not wait). */
  touch(id: string, session: Session | SessionData): Promise<void> | void {
    const key = this.key(id);
    const ttl = this.ttlOf(session);
    const req = (session as Session).req as SessionRequest | undefined;
    if (req && this.holds.get(req)?.get(id)?.touchedTtl === ttl) {
      // The load's get-and-touch already extended both copies by this lifetime (and refilled a missing one).
      this.stats.inc('touchesSkipped');
      return;
    }
    return this.touchCopies(key, ttl);
  }

  private async touchCopies(key: string, ttl: number): Promise<void> {
    const missing = await this.copies.touch(key, ttl, this.copies.nodesFor(key, COPIES));
    const latest = this.inUse.get(key)?.latest;
    // A node lost its copy (restarted, evicted): two copies again, from the one just read.
    // Only where still missing: a newer copy written meanwhile stays.
    if (missing.length > 0 && latest) {
      const fence = { loaded: latest, cas: new Map(missing.map((node) => [node, undefined])) };
      await this.copies.writeFenced(key, { ...latest, ttl }, missing, fence).catch(() => undefined);
    }
  }

  /**
   * Keeps a session alive without loading it (touch-only requests), by the lifetime this process
   * last saw for it, else by maxInactiveInterval.
   */
  async keepAlive(id: string): Promise<void> {
    this.stats.inc('touchOnlyRequests');
    const key = this.key(id);
    const ttl = this.expectedTtl(key);
    await this.copies.touch(key, ttl, this.copies.nodesFor(key, COPIES));
  }

  copiesOf(id: string): string[] {
    return this.copies.nodesFor(this.key(id), COPIES);
  }

  /** The memcached key of a session's copies (see Sealing). */
  private key(id: string): string {
    return this.settings.sealing.sessionKey(id);
  }

  destroy(id: string): Promise<void> {
    const key = this.key(id);
    return this.destroyKey(key, this.expectedTtl(key));
  }

  /** Revokes an indexed session as `destroy` does: its next load finds it destroyed. */
  private async revokeEntry(entry: IndexEntry, read: IndexedCopy): Promise<void> {
    const ttl = read?.copy?.ttl ?? this.expectedTtl(entry.key);
    // 0 is "never expires": the marker must last as long as the longer of the two.
    await this.destroyKey(entry.key, ttl === 0 || entry.ttl === 0 ? 0 : Math.max(ttl, entry.ttl));
  }

  /** The principal of a session as loaded; one the option's function cannot give is none (its next save says why). */
  private loadedPrincipal(data: SessionData): string | undefined {
    try {
      return this.users?.principalOf(data);
    } catch {
      return undefined;
    }
  }

  /** Writes a destroyed marker in place of the copies under `key`, living `ttl` seconds. */
  private async destroyKey(key: string, ttl: number): Promise<void> {
    // A marker rather than a delete, so a node that misses it cannot bring the session back;
    // one node more than the copies: a write that missed a node put its copy on the next one.
    const marker = destroyedCopy(ttl);
    try {
      await this.copies.writeToHomeMajority(key, marker, this.copies.nodesFor(key, COPIES + 1));
    } catch (err) {
      if (err instanceof SessionStoreUnavailableError) throw err;
      throw new SessionStoreUnavailableError(`destroying the session in ${this.cluster.kind} failed`, err);
    }
    this.stats.inc('deletes');
    this.recent.forget(key);
    const shared = this.inUse.get(key);
    if (shared) {
      shared.latest = undefined;
      shared.cas = new Map();
    }
  }

  /** The response waits for the releases only within the request's deadline; a release still running then goes on. */
  releaseLocks(req: SessionRequest): Promise<void> | undefined {
    const holds = this.holds.get(req);
    if (!holds) return undefined;
    let releases: Promise<void>[] | undefined;
    let spent = 0;
    for (const hold of holds.values()) {
      if (!hold.lock || hold.released) continue;
      (releases ??= []).push(this.releaseLock(hold, hold.lock));
      spent = Math.max(spent, hold.spent);
    }
    return releases && waitAtMost(Promise.all(releases), this.settings.requestDeadline - spent);
  }

  finish(_id: string, req: SessionRequest): void {
    const holds = this.holds.get(req);
    if (!holds) return;
    // Holds stay with the request (and go with it): a late save must still know what it loaded.
    const { method, path } = requestKind(req);
    for (const hold of holds.values()) {
      if (hold.released) continue;
      hold.released = true;
      this.policy.observe(method, path, hold.modified);
      if (!hold.modified) this.stats.inc('readOnlyRequests');
      this.release(hold);
    }
  }

  async close(): Promise<void> {
    this.locks.close();
    this.relocator.stopRetrying();
    await this.relocator.idle();
  }

  /**
   * After a node went down, came back or restarted, repairs (in the background, rate-limited)
   * the copies of the sessions this process served recently, so each has two copies again,
   * even one nobody requests before a second node fails (MSM issue #267).
   */
  private relocate(node: string): void {
    for (const key of this.recent.alive()) {
      // A session's acknowledged versions are on two of its home nodes, not always on the first
      // two up (a write that found one down went to the next): any home node's change may have
      // taken one of them, or left it stale there.
      if (!this.cluster.homeNodes(key).includes(node)) continue;
      this.stats.inc('memcachedFailovers');
      this.relocator.enqueue(key, () => this.copies.repair(key));
    }
  }

  private holdsOf(req: SessionRequest): Map<string, Hold> {
    let holds = this.holds.get(req);
    if (!holds) this.holds.set(req, (holds = new Map()));
    return holds;
  }

  private use(key: string): InUse {
    let shared = this.inUse.get(key);
    if (!shared) this.inUse.set(key, (shared = new InUse()));
    shared.refs++;
    return shared;
  }

  private release(hold: Hold): void {
    if (hold.lock) void this.releaseLock(hold, hold.lock);
    const shared = this.inUse.get(hold.key);
    if (shared && --shared.refs <= 0) {
      this.inUse.delete(hold.key);
      // Dropped now rather than left to die with the record: old-generation garbage can keep an
      // InUse reachable for young collections, and with it the copy's whole text would be promoted.
      shared.latest = undefined;
    }
  }

  /** Releases the request's lock, once a read it abandoned has ended. */
  private releaseLock(hold: Hold, lock: LockHandle): Promise<void> {
    const release = () => this.locks.release(lock);
    return hold.abandonedRead ? hold.abandonedRead.then(release, release) : release();
  }

  /**
   * `work` as long as the request's session work, `spent` ms so far, stays within requestDeadline;
   * past it, a RequestDeadlineError (503). What `work` yields too late goes to `late`.
   */
  private withinDeadline<T>(work: Promise<T>, spent: number, late?: (value: T) => void): Promise<T> {
    const deadline = this.settings.requestDeadline;
    return withinDeadline(work, deadline - spent, deadline, late).catch((err: unknown) => {
      if (err instanceof RequestDeadlineError) this.stats.inc('requestDeadlinesMissed');
      throw err;
    });
  }

  /** A session's lifetime as this process last saw it, else the inactivity timeout (s; 0: never expires). */
  private expectedTtl(key: string): number {
    return this.recent.ttlOf(key) ?? Math.max(0, this.settings.maxInactiveInterval);
  }

  /**
   * Reads the newest copy (concurrent unlocked readers share one read) and repairs stale copies.
   * The read extends the copies by the session's expected lifetime in the same operation (get-and-touch),
   * so a request that does not change the session needs no separate touch.
   */
  private async read(id: string, key: string, shared: InUse, shareable: boolean): Promise<TouchingRead> {
    if (shareable && shared.reading) return shared.reading;
    const ttl = this.expectedTtl(key);
    const reading = (async () => {
      let result = await this.copies.read(key, ttl);
      // Stored before a secret rotation or before sealing: moved here once, then read as usual.
      if (!result.copy && result.corrupt.length === 0 && (await this.older.adopt(id, key))) result = await this.copies.read(key, ttl);
      if (result.corrupt.length > 0) {
        reportCorruptSession(this.logger, this.stats, this.settings.sealing.fingerprint(key), unusableCopies(result.corrupt));
        void this.copies.delete(key, result.corrupt);
      }
      void this.copies.fill(key, result);
      shared.latest = result.copy;
      shared.cas = result.cas;
      shared.doubtful = result.doubtful;
      return new TouchingRead(result.copy, ttl);
    })();
    if (shareable) {
      shared.reading = reading;
      void reading.finally(() => shared.reading === reading && (shared.reading = undefined)).catch(() => undefined);
    }
    return reading;
  }

  /** A session's lifetime in seconds: its cookie's (capped, see MAX_LIFETIME_SECONDS), else the inactivity timeout (0: never expires). */
  private ttlOf(session: Session | SessionData): number {
    const maxAge = (session.cookie as { originalMaxAge?: number | null } | undefined)?.originalMaxAge;
    const seconds = typeof maxAge === 'number' ? maxAge / 1000 : this.settings.maxInactiveInterval;
    return seconds > 0 && Number.isFinite(seconds) ? Math.ceil(cappedLifetime(seconds)) : 0;
  }
}
