import { randomToken } from '../../base/random-token.js';
import { LoadedSession, type SessionMode } from '../session-mode.js';
import type { Statistics } from '../../base/statistics.js';
import { ThrottledWarnings, type Logger } from '../../base/logger.js';
import type { Session } from '../../session/session.js';
import type { SessionData } from '../../session/store.js';
import type { StorageCluster } from '../../failover/cluster.js';
import type { HealthEvent } from '../../failover/node-health.js';
import { READ_NODES, SessionCopies } from '../../failover/session-copies.js';
import { newWriteId, SessionCopy, type VersionedCopy } from '../../format/versioned-copy.js';
import { copyDelta } from '../../format/copy-delta.js';
import type { CopyPatch } from '../../failover/copy-write.js';
import { cappedLifetime, MAX_LIFETIME_SECONDS } from '../../base/lifetime.js';
import { reportCorruptSession, unusableCopies } from '../../format/corrupt-session.js';
import { sealedCopies } from '../../format/copy-codec.js';
import { OlderCopies, type OlderCopiesSettings } from '../../failover/older-copies.js';
import { Relocator } from '../../failover/relocation.js';
import { withDeadline } from '../../base/deadline.js';
import { SessionStoreUnavailableError } from '../../base/errors.js';
import { attributesJson } from '../../session/change-detection.js';
import {
  checkItemSize,
  CorruptSessionError,
  decodeSession,
  encodeSession,
  storedCookie,
  storedJson,
} from '../../format/session-codec.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';
import { routeOf, withRoute } from './route.js';
import { BoundedSet } from './bounded-set.js';
import { Revocations, type RevocationMark } from '../../revocation/revocations.js';
import type { PrincipalFunction, IndexEntry } from '../../revocation/principal-index.js';
import { UserSessions, type IndexedCopy } from '../../revocation/user-sessions.js';

/** What sticky mode reads of the settings (see SessionOptions for each). */
export interface StickySettings extends OlderCopiesSettings {
  maxInactiveInterval: number;
  maxLocalSessions: number;
  maxLocalBytes: number;
  itemSizeLimit: number;
  sessionAttributeFilter?: RegExp;
  sessionBackupAsync: boolean;
  sessionBackupTimeout: number;
  revocationCheckInterval: number;
  revocationCheckTimeout: number;
  /** How long a storage call may take, in ms: also how stale pushed revocation tokens may get. */
  operationTimeout: number;
  route?: string;
  /** The `principal` option (undefined: sessions are not indexed by principal). */
  principal?: PrincipalFunction;
}

/** Sessions copied at once when this process hands its sessions over as it closes. */
const HANDOVER_CONCURRENCY = 16;
/** How often expired local sessions are swept, in ms. */
const SWEEP_INTERVAL = 60_000;
/**
 * The memcached copy records when its session expires. A used but unchanged session is stored
 * again once that record falls behind its real expiry by more than this fraction of its lifetime:
 * at most 1/REFRESH_FRACTION writes per lifetime, and a copy taken over expires at most this
 * fraction of the lifetime early, never late.
 */
const REFRESH_FRACTION = 0.1;

/**
 * Sticky mode (MSM's default): this process holds the primary copy of its sessions in memory
 * and backs each one up to the memcached node the ring assigns to it. Reads never touch
 * memcached; a session this process does not hold is taken over from memcached.
 */
export class StickyMode implements SessionMode {
  readonly touches = true;
  private readonly local: LocalSessions;
  private readonly copies: SessionCopies;
  private readonly relocator: Relocator;
  /** Per-session backup chains: backups of one session never overtake each other. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Takeovers in progress: concurrent requests for one session share one load. */
  private readonly takeovers = new Map<string, Promise<LoadedSession | undefined>>();
  /** Old ids whose memcached copies go once the renamed session is backed up (takeover). */
  private readonly superseded = new Map<string, string>();
  /** Sessions this process dropped from memory itself: reloading them is not a takeover. */
  private readonly evicted: BoundedSet;
  private readonly sweeper: NodeJS.Timeout;
  private readonly warnings: ThrottledWarnings;
  private readonly revocations: Revocations;
  private readonly older: OlderCopies;
  readonly users: UserSessions | undefined;

  constructor(
    private readonly settings: StickySettings,
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    this.evicted = new BoundedSet(settings.maxLocalSessions);
    this.local = new LocalSessions({ maxSessions: settings.maxLocalSessions, maxBytes: settings.maxLocalBytes }, (id) => {
      this.evicted.add(id);
      stats.inc('localEvictions');
    });
    this.copies = new SessionCopies(cluster, stats, sealedCopies(settings.sealing));
    this.older = new OlderCopies(settings, cluster, stats, this.copies, 1);
    this.relocator = new Relocator(stats, logger);
    this.warnings = new ThrottledWarnings(logger);
    this.revocations = new Revocations(cluster, stats, settings.sealing, settings.revocationCheckTimeout, settings.operationTimeout);
    this.users = settings.principal && new UserSessions(cluster, settings.sealing, this.copies, settings.principal, settings.route, (entry, read) => this.revokeEntry(entry, read));
    stats.gauge('localSessions', () => this.local.size);
    stats.gauge('localBytes', () => this.local.totalBytes);
    cluster.onHealthChange((node, event) => this.relocate(node, event));
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL);
    this.sweeper.unref();
  }

  /** A session held here is served synchronously; one that is not is taken over from memcached. */
  load(id: string): Promise<LoadedSession | undefined> | LoadedSession | undefined {
    const entry = this.local.get(id);
    if (!entry) {
      let loading = this.takeovers.get(id);
      if (!loading) {
        loading = this.takeOver(id).finally(() => this.takeovers.delete(id));
        this.takeovers.set(id, loading);
      }
      // A concurrent request already took it over: serve the local copy under its new id.
      return loading.then((loaded) => loaded && this.materialize(loaded.id, this.local.peek(loaded.id)!));
    }
    if (entry.expiresAt <= Date.now()) {
      this.expire(id, entry);
      return undefined;
    }
    const allowed = this.notRevoked(id, entry);
    if (allowed === true) return this.materialize(id, entry);
    return allowed.then((ok) => {
      if (!ok) return undefined;
      // A concurrent destroy or save may have replaced the entry during the check: serve what is there now.
      const current = this.local.peek(id);
      return current && this.materialize(id, current);
    });
  }

  save(id: string, session: Session | SessionData, json?: string): Promise<void> | void {
    const key = this.key(id);
    const started = performance.now();
    const body = json ?? attributesJson(session);
    const encoded = encodeSession(session, this.settings.sessionAttributeFilter, body);
    checkItemSize(key, encoded, this.settings.itemSizeLimit);
    const { body: stored, cookie } = encoded;
    this.stats.record('serialization', performance.now() - started);
    const principal = this.users?.principalOf(session);
    // A session gets its principal only once the index holds it: else it could escape revokeSessionsOf.
    if (principal !== undefined && principal !== this.local.peek(id)?.principal) {
      return this.users!.record(principal, id, this.lifetimeSeconds(cookie)).then(() => this.keep(id, body, stored, cookie, principal));
    }
    return this.keep(id, body, stored, cookie, principal);
  }

  /** Holds the session's new state here and backs it up. */
  private keep(id: string, body: string, stored: string, cookie: unknown, principal: string | undefined): Promise<void> | void {
    const entry: LocalSession =
      this.local.delete(id) ?? ({ version: 0, backupExpiresAt: 0, backupInFlight: false } as LocalSession);
    if (entry.stored !== stored) entry.version++;
    entry.body = body;
    entry.stored = stored;
    entry.cookie = cookie;
    entry.expiresAt = this.expiryOf(cookie);
    entry.principal = principal;
    this.local.set(id, entry);
    this.markSoon(id, entry);

    if (this.isBackedUp(id, entry)) {
      this.stats.inc('backupsSkippedUnchanged');
      return;
    }
    const backedUp = this.backup(id, entry);
    if (this.settings.sessionBackupAsync) return;
    // Synchronous backup: the response waits, but never longer than sessionBackupTimeout.
    return withDeadline(backedUp, this.settings.sessionBackupTimeout, 'session backup').catch(() => undefined);
  }

  touch(id: string, session: Session | SessionData): void {
    const entry = this.local.peek(id);
    if (!entry) return;
    // The cookie's attributes as they are (expires a Date): JSON turns them into the stored form when backed up.
    const cookie = session.cookie as { data?: unknown } | undefined;
    entry.cookie = cookie?.data ?? storedCookie(cookie);
    entry.expiresAt = this.expiryOf(entry.cookie);
    this.extend(id, entry);
  }

  async keepAlive(id: string): Promise<void> {
    const entry = this.local.peek(id);
    if (!entry) return;
    this.stats.inc('touchOnlyRequests');
    const cookie = entry.cookie as { originalMaxAge?: number | null; expires?: string | null };
    if (typeof cookie.originalMaxAge === 'number') {
      entry.cookie = { ...cookie, expires: new Date(Date.now() + cookie.originalMaxAge).toISOString() };
    }
    entry.expiresAt = this.expiryOf(entry.cookie);
    this.extend(id, entry);
  }

  copiesOf(id: string): string[] {
    return [...(this.local.peek(id)?.backupNodes ?? this.cluster.backupNodesFor(this.key(id)))];
  }

  /**
   * Writes the session's revocation tombstone, so no process serves the id from memory
   * afterwards, then deletes the session (regenerate and logout come here too). Resolves once
   * both are done; rejects with SessionStoreUnavailableError (503), the session left as it was,
   * when no tombstone node took the tombstone: a logout is reported only once it is recorded.
   */
  async destroy(id: string): Promise<void> {
    const held = this.local.peek(id);
    const ttl = held ? this.remainingSeconds(held.expiresAt) : await this.tombstoneTtlOfStored(id);
    if (!(await this.revocations.revoke(id, ttl))) {
      throw new SessionStoreUnavailableError(`the session could not be revoked: no ${this.cluster.kind} node took its tombstone`);
    }
    const entry = this.local.delete(id);
    this.evicted.delete(id);
    // A backup still in flight must land before the delete, or it would resurrect the session.
    await this.chains.get(id);
    await this.deleteCopy(id, entry?.backupNodes);
  }

  /**
   * Revokes an indexed session as `destroy` revokes one: its tombstone (rejects, 503, when no
   * tombstone node took it), then its copy. The process holding it drops it on its next check.
   */
  private async revokeEntry(entry: IndexEntry, read: IndexedCopy): Promise<void> {
    const copy = read?.copy;
    const ttl = copy ? this.tombstoneTtlOfCopy(copy) : entry.ttl && Math.max(entry.ttl, this.settings.maxInactiveInterval);
    if (!(await this.revocations.revokeKeys(entry.tombstone, entry.key, ttl))) {
      throw new SessionStoreUnavailableError(`a session could not be revoked: no ${this.cluster.kind} node took its tombstone`);
    }
    await this.copies.delete(entry.key, this.cluster.readNodesFor(entry.key, READ_NODES));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.relocator.idle();
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
    await this.handOver();
    this.revocations.close();
    this.cluster.close();
  }

  /**
   * Before this process leaves, copies each session it holds to the nodes the cluster names for a
   * handover (other app processes, with peers; none with a shared store): its backup alone may
   * be on the process that leaves next. A few at a time; a failed copy is skipped.
   */
  private async handOver(): Promise<void> {
    const jobs = [...this.local].map(([id, entry]) => async () => {
      const key = this.key(id);
      const nodes = this.cluster.handoverNodesFor(key).filter((node) => !entry.backupNodes?.includes(node) || entry.backedUp !== entry.stored);
      if (nodes.length > 0 && entry.expiresAt > Date.now()) await this.copies.write(key, this.copyOf(entry), nodes).catch(() => undefined);
    });
    const worker = async () => {
      for (let job = jobs.pop(); job; job = jobs.pop()) await job();
    };
    await Promise.all(Array.from({ length: HANDOVER_CONCURRENCY }, worker));
  }

  /**
   * The copy a backup of `entry` stores: its state, version and expiry; where nodes apply deltas,
   * a write id too, which names it as the base of the next backup's delta.
   */
  private copyOf(entry: LocalSession): SessionCopy {
    const writeId = this.cluster.patchesCopies ? newWriteId() : undefined;
    return new SessionCopy(entry.version, this.remainingSeconds(entry.expiresAt), storedJson({ body: entry.stored, cookie: entry.cookie }), entry.expiresAt, writeId);
  }

  /** The delta from the copy the last backup wrote to `copy`, for the nodes among `nodes` that took it; undefined: write it whole. */
  private patchOf(entry: LocalSession, copy: SessionCopy, nodes: readonly string[]): CopyPatch | undefined {
    const { backedUp, backedUpBase, backupNodes } = entry;
    if (backedUp === undefined || backedUpBase === undefined || backupNodes === undefined) return undefined;
    const bases = backupNodes.filter((node) => nodes.includes(node));
    const delta = bases.length > 0 ? copyDelta(backedUpBase, backedUp, copy, entry.stored, entry.cookie) : undefined;
    return delta === undefined ? undefined : { delta, bases };
  }

  private key(id: string): string {
    return this.settings.sealing.sessionKey(id);
  }

  /**
   * Whether memcached already holds this state of the session, on the node the ring now gives it,
   * with a recorded expiry less than REFRESH_FRACTION of the lifetime behind the real one.
   */
  private isBackedUp(id: string, entry: LocalSession): boolean {
    return this.copiesCurrent(entry) && entry.backupNodes !== undefined && sameNodes(entry.backupNodes, this.backupTargets(id, entry));
  }

  /** Whether the copies written (wherever they are) hold this state, with a recent enough expiry. */
  private copiesCurrent(entry: LocalSession): boolean {
    return entry.backedUp === entry.stored && !(entry.expiresAt - entry.backupExpiresAt > REFRESH_FRACTION * this.lifetimeMs(entry.cookie));
  }

  /** The nodes the ring now gives the session's backup (empty: none is up), remembered with the entry until the ring changes. */
  private backupTargets(id: string, entry: LocalSession): readonly string[] {
    const generation = this.cluster.ringGeneration();
    if (entry.targetsAt !== generation || entry.targets === undefined) {
      entry.targets = this.cluster.backupNodesFor(this.key(id));
      entry.targetsAt = generation;
    }
    return entry.targets;
  }

  /** A session's full lifetime in whole seconds (0: never expires). */
  private lifetimeSeconds(cookie: unknown): number {
    const ms = this.lifetimeMs(cookie);
    return Number.isFinite(ms) ? Math.ceil(ms / 1000) : 0;
  }

  /** A session's full lifetime in ms: its cookie's maxAge (capped, see MAX_LIFETIME_SECONDS), else the inactivity timeout (Infinity: never). */
  private lifetimeMs(cookie: unknown): number {
    const maxAge = (cookie as { originalMaxAge?: unknown } | null)?.originalMaxAge;
    if (typeof maxAge === 'number') return Math.min(maxAge, MAX_LIFETIME_SECONDS * 1000);
    const seconds = this.settings.maxInactiveInterval;
    return seconds > 0 ? seconds * 1000 : Number.POSITIVE_INFINITY;
  }

  /**
   * A memcached TTL that ends no earlier than `expiresAt`; 0 (never) for Infinity. One second more,
   * because memcached's clock ticks once a second and may end an item up to a second early.
   */
  private remainingSeconds(expiresAt: number): number {
    return Number.isFinite(expiresAt) ? cappedLifetime(Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000)) + 1) : 0;
  }

  /**
   * Tombstone lifetime for a session this process does not hold: as long as whoever holds it may
   * still serve it, i.e. its recorded expiry plus the refresh lag (the copy's TTL is close to the
   * lifetime). Without a readable copy: the inactivity timeout.
   */
  private async tombstoneTtlOfStored(id: string): Promise<number> {
    const copy = await this.copies.read(this.key(id)).then(
      (result) => result.copy,
      () => undefined,
    );
    if (!copy) return Math.max(0, this.settings.maxInactiveInterval);
    return this.tombstoneTtlOfCopy(copy);
  }

  private tombstoneTtlOfCopy(copy: VersionedCopy): number {
    if (copy.expiresAt === undefined) return copy.ttl;
    return this.remainingSeconds(copy.expiresAt) + Math.ceil(REFRESH_FRACTION * copy.ttl);
  }

  /**
   * Whether a session held in memory may be served: its id has no revocation tombstone. Checked
   * on every request (one token get per node while no tombstone was written to its nodes), or
   * not at all while its nodes' tokens, read less than `revocationCheckInterval` ago, are
   * unchanged. When no tombstone node can say, the session is served (sticky mode stays available
   * while memcached is not) and checked again next time.
   * `patient` (background checks): wait for every node as long as operationTimeout.
   */
  private notRevoked(id: string, entry: LocalSession, patient = false): true | Promise<boolean> {
    if (this.revocations.unchangedWithin(entry.revocation, this.settings.revocationCheckInterval)) return true;
    return this.revocations.check(id, entry.revocation, patient).then(({ state, mark }) => {
      if (state === 'lost') return this.revalidate(id, entry, mark);
      if (state === 'valid') entry.revocation = mark;
      if (state !== 'revoked') return true;
      this.stats.inc('revokedSessionsRefused');
      this.drop(id, entry);
      return false;
    });
  }

  /**
   * Checks a session held here that has no revocation mark yet (new, or just taken over) right
   * away, in the background: from its mark on, a restart that empties its tombstone nodes is
   * noticed (see `revalidate`); without one, its next check could not tell.
   */
  private markSoon(id: string, entry: LocalSession): void {
    // Patient: no request waits for it, and a check that misses revocationCheckTimeout leaves no mark.
    if (entry.revocation === undefined) void Promise.resolve(this.notRevoked(id, entry, true)).catch(() => undefined);
  }

  /**
   * A session whose tombstone nodes all lost their revocation data since it was last found valid:
   * served only if memcached still holds a copy under its id. A takeover elsewhere and a destroy
   * delete that copy, so without one the session may have been revoked: it is dropped (the user
   * gets a fresh session), even though a copy lost in the same restarts looks the same. When the
   * copy cannot be read, the request fails with SessionStoreUnavailableError (503) and the session
   * is kept, to be checked again on its next request.
   */
  private async revalidate(id: string, entry: LocalSession, mark: RevocationMark | undefined): Promise<boolean> {
    const found = await this.copies.read(this.key(id)).then(
      (result) => result.copy !== undefined,
      (err: unknown) => {
        throw new SessionStoreUnavailableError('the session\'s revocation data was lost and its copy could not be read', err);
      },
    );
    if (found) {
      this.stats.inc('sessionsRevalidated');
      entry.revocation = mark;
      return true;
    }
    this.stats.inc('revalidationsRefused');
    this.drop(id, entry);
    return false;
  }

  /** Forgets a session held here (it is still this entry: not replaced meanwhile). */
  private drop(id: string, entry: LocalSession): void {
    if (this.local.peek(id) === entry) this.local.delete(id);
  }

  /** When a session with this cookie expires: the cookie's own expiry (capped, see MAX_LIFETIME_SECONDS), else the inactivity timeout. */
  private expiryOf(cookie: unknown): number {
    const expires = (cookie as { expires?: string | Date | null } | null)?.expires;
    if (expires) return Math.min(new Date(expires).valueOf(), Date.now() + MAX_LIFETIME_SECONDS * 1000);
    const seconds = this.settings.maxInactiveInterval;
    return seconds > 0 ? Date.now() + seconds * 1000 : Number.POSITIVE_INFINITY;
  }


  private materialize(id: string, entry: LocalSession): LoadedSession {
    const data = JSON.parse(entry.body) as SessionData;
    data.cookie = entry.cookie as SessionData['cookie'];
    return new LoadedSession(id, data, entry.body);
  }

  /**
   * Loads a session this process does not hold and makes this process its owner. A session
   * another node owned gets a fresh id, so a stale copy left on the old owner can never be served
   * again (MSM issue #153).
   */
  private async takeOver(id: string): Promise<LoadedSession | undefined> {
    const key = this.key(id);
    // The tombstone is checked with the read (same round trip), so no node revives a revoked id.
    const [found, revocation] = await Promise.all([this.copies.read(key), this.revocations.check(id, undefined, true)]);
    // Stored before a secret rotation or before sealing: moved here once, then read as usual.
    const result = !found.copy && found.corrupt.length === 0 && (await this.older.adopt(id, key)) ? await this.copies.read(key) : found;
    if (result.corrupt.length > 0) {
      reportCorruptSession(this.logger, this.stats, this.settings.sealing.fingerprint(key), unusableCopies(result.corrupt));
      void this.copies.delete(key, result.corrupt);
    }
    const copy = result.copy;
    if (!copy) return undefined;
    if (revocation.state === 'revoked' || (copy.expiresAt !== undefined && copy.expiresAt <= Date.now())) {
      this.stats.inc(revocation.state === 'revoked' ? 'revokedSessionsRefused' : 'expiredRemoved');
      void this.copies.delete(key, this.cluster.readNodesFor(key, READ_NODES));
      return undefined;
    }
    let data: SessionData;
    try {
      const started = performance.now();
      data = decodeSession(copy.json);
      this.stats.record('deserialization', performance.now() - started);
    } catch (err) {
      if (!(err instanceof CorruptSessionError)) throw err;
      reportCorruptSession(this.logger, this.stats, this.settings.sealing.fingerprint(key), err.message);
      void this.copies.delete(key, this.cluster.readNodesFor(key, READ_NODES));
      return undefined;
    }
    const own = this.evicted.delete(id);
    const newId = own ? id : this.idForTakeover(id);
    const moved = newId !== id;
    if (!own) this.stats.inc('takeovers');
    // A session under a new id is recorded for its principal before the old id is revoked: a failure leaves it as it was.
    const principal = this.users?.principalOf(data);
    if (moved && principal !== undefined) await this.users!.record(principal, newId, this.lifetimeSeconds(data.cookie));
    // The old id is revoked before the session is served under the new one: a previous owner that
    // still holds it in memory stops serving it from its next request. Unrecorded, the move fails.
    if (moved && !(await this.revocations.revoke(id, this.tombstoneTtlOfCopy(copy)))) {
      throw new SessionStoreUnavailableError(`the session could not be moved here: no ${this.cluster.kind} node took the old id's tombstone`);
    }
    if (moved) this.superseded.set(newId, id);
    const encoded = encodeSession(data, this.settings.sessionAttributeFilter);
    const targets = this.cluster.backupNodesFor(key);
    const entry: LocalSession = {
      body: encoded.body,
      stored: encoded.body,
      version: copy.version,
      cookie: encoded.cookie,
      expiresAt: copy.expiresAt ?? this.expiryOf(encoded.cookie),
      // Under a new id there is no backup yet; under the same id the copy read is the backup
      // when it sits on the nodes the ring gives now.
      backedUp: moved || targets.some((node) => !result.cas.has(node) || result.stale.includes(node)) ? undefined : encoded.body,
      backupNodes: moved ? undefined : targets,
      backupExpiresAt: copy.expiresAt ?? 0,
      backupInFlight: false,
      // The check was of the old id's tombstone: a new id is checked afresh.
      revocation: moved ? undefined : revocation.mark,
      principal,
    };
    this.local.set(newId, entry);
    this.markSoon(newId, entry);
    // Under the same id, copies beyond the backup (handed over, or left by an earlier ring) would
    // fall behind it: once the backup is confirmed they go.
    const extra = entry.backedUp === undefined ? [] : [...result.cas].filter(([node, cas]) => cas !== undefined && !targets.includes(node)).map(([node]) => node);
    if (extra.length > 0) void this.copies.delete(key, extra);
    return new LoadedSession(newId, data);
  }

  /**
   * The id a session taken over gets: a fresh random part (with this node's route), never the old
   * one with another route. Every id a takeover leaves behind is revoked, so reusing its random
   * part would bring a session that moves A → B → A back to an id with a tombstone. A session
   * that already carries this node's route (this process restarted) keeps its id.
   */
  private idForTakeover(id: string): string {
    const route = this.settings.route;
    if (route && routeOf(id) === route) return id;
    const fresh = randomToken(24);
    return route ? withRoute(fresh, route) : fresh;
  }

  /** Queues a backup of the session's current state behind any backup in flight. */
  private backup(id: string, entry: LocalSession): Promise<void> {
    entry.backupInFlight = true;
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(() => this.writeBackup(id, entry));
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) !== next) return;
      this.chains.delete(id);
      entry.backupInFlight = false;
      this.local.settled(id);
    });
    return next;
  }

  private async writeBackup(id: string, entry: LocalSession): Promise<void> {
    if (this.local.peek(id) !== entry) return; // destroyed or replaced meanwhile
    const key = this.key(id);
    const nodes = this.backupTargets(id, entry);
    if (nodes.length === 0) {
      this.stats.inc('backupFailures'); // every node is down: relocation backs it up when one returns
      return;
    }
    if (this.isBackedUp(id, entry)) return; // an earlier queued backup wrote it
    const stored = entry.stored;
    // The copy records the session's expiry, and memcached drops it then.
    const expiresAt = entry.expiresAt;
    const copy = this.copyOf(entry);
    // Nodes that already hold this very copy are not written again (a node joined the targets).
    const current = this.copiesCurrent(entry) ? (entry.backupNodes ?? []) : [];
    const missing = nodes.filter((node) => !current.includes(node));
    let written = missing;
    try {
      if (missing.length > 0) written = await this.copies.write(key, copy, missing, this.patchOf(entry, copy, missing));
    } catch (err) {
      const node = missing.join(',');
      this.warnings.warn(`backup:${node}`, { event: 'backup_failed', node }, `backup to ${this.cluster.kind} node ${node} failed: ${(err as Error).message}`);
      return;
    }
    const previousNodes = entry.backupNodes ?? [];
    entry.backedUp = stored;
    entry.backedUpBase = copy.writeId === undefined ? undefined : { version: copy.version, writeId: copy.writeId };
    // Spares that took the copy a target missed hold it instead of that target: the session is then
    // not where the ring wants it, and its next use backs it up to the target again. Usually every
    // target took it, and the targets (an array kept with the entry) are the holders.
    const everyTarget = written.length === missing.length && written.every((node) => nodes.includes(node));
    const holders = everyTarget ? nodes : [...nodes.filter((node) => !missing.includes(node) || written.includes(node)), ...written.filter((node) => !nodes.includes(node))];
    entry.backupNodes = holders;
    // The copies left alone record the expiry they were written with.
    if (current.length === 0) entry.backupExpiresAt = expiresAt;
    // A copy left on a node that held it before is older than this one: remove it.
    const left = previousNodes.filter((node) => !holders.includes(node));
    if (left.length > 0) void this.copies.delete(key, left);
    const old = this.superseded.get(id);
    if (old !== undefined) {
      this.superseded.delete(id);
      void this.deleteCopy(old, undefined);
    }
  }

  /**
   * A used but unchanged session: stored again only when its copy's recorded expiry falls too far
   * behind (see REFRESH_FRACTION), so most requests cost no memcached operation.
   */
  private extend(id: string, entry: LocalSession): void {
    if (entry.backupNodes === undefined || entry.backupInFlight) return; // the pending backup records the expiry
    if (this.isBackedUp(id, entry)) {
      this.stats.inc('touchesSkipped');
      return;
    }
    void this.backup(id, entry);
  }

  /**
   * After a node went down, came back or restarted, backs up again (in the background,
   * rate-limited) every local session whose copy is not where the ring now wants it.
   */
  private relocate(node: string, event: HealthEvent): void {
    for (const [id, entry] of this.local) {
      // A node that restarted lost its copy: only it is written again (with no copy left anywhere, the
      // session must stay in memory). A node that went down may come back as a new process, empty,
      // before relocation ran (seen as 'up', not 'restarted'): its copies count as lost at once.
      if ((event === 'restarted' || event === 'down') && entry.backupNodes?.includes(node)) {
        entry.backupNodes = entry.backupNodes.filter((other) => other !== node);
        if (entry.backupNodes.length === 0) entry.backedUp = undefined;
      }
      const misplaced = !this.isBackedUp(id, entry);
      // One of its tombstone nodes restarted, or came back and may have (seen down, then up): checked
      // again while the other still holds its tombstones, so a later loss of that one does not leave it 'lost'.
      const remark = event !== 'down' && entry.revocation?.nodes.includes(node) === true;
      if (!misplaced && !remark) continue;
      if (misplaced) this.stats.inc('memcachedFailovers');
      this.relocator.enqueue(id, () => this.relocateOne(id, entry));
    }
  }

  /**
   * Checks a session after a node change and backs it up again if its copy is not where the ring
   * wants it (a no-op otherwise), once its revocation check allows it: a session
   * taken over or destroyed elsewhere, whose copy was deleted, must not get a copy back (after
   * lost revocation data, that copy is what revalidation looks for).
   */
  private async relocateOne(id: string, entry: LocalSession): Promise<void> {
    const allowed = this.notRevoked(id, entry, true);
    if (allowed !== true && !(await allowed)) return;
    if (this.local.peek(id) === entry) await this.backup(id, entry);
  }

  /** Deletes a session's backup from `knownNodes`, or else from every node where the ring may have put it. */
  private async deleteCopy(id: string, knownNodes: readonly string[] | undefined): Promise<void> {
    const key = this.key(id);
    const nodes = knownNodes ? [...knownNodes] : this.cluster.copyNodesFor(key);
    if (nodes.length > 0) await this.copies.delete(key, nodes);
  }

  private expire(id: string, entry: LocalSession): void {
    this.local.delete(id);
    this.stats.inc('expiredRemoved');
    if (entry.backupNodes !== undefined) void this.deleteCopy(id, entry.backupNodes);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.local) {
      if (entry.expiresAt <= now) this.expire(id, entry);
    }
  }
}

function sameNodes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((node, i) => node === b[i]);
}
