import { randomBytes } from 'node:crypto';
import type { LoadedSession, SessionMode } from '../manager/mode.js';
import type { ManagerSettings } from '../manager/options.js';
import type { Statistics } from '../manager/statistics.js';
import { ThrottledWarnings, type Logger } from '../manager/logger.js';
import type { Session } from '../manager/session.js';
import type { SessionData } from '../manager/store.js';
import type { MemcachedCluster } from '../failover/cluster.js';
import type { HealthEvent } from '../failover/node-health.js';
import { SessionCopies } from '../failover/session-copies.js';
import { Relocator } from '../failover/relocation.js';
import { withDeadline } from '../memcached/deadline.js';
import { isStorableId, storageKey } from '../memcached/storage-key.js';
import {
  attributesJson,
  checkItemSize,
  CorruptSessionError,
  decodeSession,
  encodeSession,
  storedCookie,
  storedJson,
} from '../memcached/session-codec.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';
import { stageEnd, stageStart } from '../manager/stage-timer.js';
import { rerouted, routeOf } from './route.js';
import { BoundedSet } from './bounded-set.js';

/** How often expired local sessions are swept, in ms. */
const SWEEP_INTERVAL = 60_000;
/** The memcached copy outlives the session by this fraction of its remaining time, so touches are rare. */
const TTL_SLACK = 0.5;

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

  constructor(
    private readonly settings: ManagerSettings,
    private readonly cluster: MemcachedCluster,
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    this.evicted = new BoundedSet(settings.maxLocalSessions);
    this.local = new LocalSessions({ maxSessions: settings.maxLocalSessions, maxBytes: settings.maxLocalBytes }, (id) => {
      this.evicted.add(id);
      stats.inc('localEvictions');
    });
    this.copies = new SessionCopies(cluster, stats);
    this.relocator = new Relocator(stats, logger);
    this.warnings = new ThrottledWarnings(logger);
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
    return this.materialize(id, entry);
  }

  save(id: string, session: Session | SessionData, json?: string): Promise<void> | void {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) {
      throw new TypeError('session id cannot be a memcached key (1-250 printable characters, no spaces, prefix included)');
    }
    const key = this.key(id);
    const started = performance.now();
    const stage = stageStart();
    const filter = this.settings.sessionAttributeFilter;
    const body = json ?? attributesJson(session);
    const stored = filter ? attributesJson(session, filter) : body;
    const cookie = storedCookie(session.cookie);
    checkItemSize(key, { body: stored, cookie }, this.settings.itemSizeLimit);
    stageEnd('serialization', stage);
    this.stats.record('serialization', performance.now() - started);

    const entry: LocalSession = this.local.delete(id) ?? ({ version: 0, backupExpiresAt: 0, backupInFlight: false } as LocalSession);
    if (entry.stored !== stored) entry.version++;
    entry.body = body;
    entry.stored = stored;
    entry.cookie = cookie;
    entry.expiresAt = this.expiryOf(cookie);
    this.local.set(id, entry);

    if (this.isBackedUp(id, entry)) {
      this.stats.inc('backupsSkippedUnchanged');
      this.extend(id, entry);
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
    const node = this.local.peek(id)?.backupNode ?? this.copies.nodesFor(this.key(id), 1)[0];
    return node ? [node] : [];
  }

  async destroy(id: string): Promise<void> {
    const entry = this.local.delete(id);
    // A backup still in flight must land before the delete, or it would resurrect the session.
    await this.chains.get(id);
    await this.deleteCopy(id, entry?.backupNode);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.relocator.idle();
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
    this.cluster.close();
  }

  private key(id: string): string {
    return storageKey(this.settings.storageKeyPrefix, id);
  }

  /** Whether memcached already holds this state of the session, on the node the ring now gives it. */
  private isBackedUp(id: string, entry: LocalSession): boolean {
    return entry.backedUp === entry.stored && entry.backupNode === this.copies.nodesFor(this.key(id), 1)[0];
  }

  /** When a session with this cookie expires: the cookie's own expiry, else the inactivity timeout. */
  private expiryOf(cookie: unknown): number {
    const expires = (cookie as { expires?: string | Date | null } | null)?.expires;
    if (expires) return new Date(expires).valueOf();
    const seconds = this.settings.maxInactiveInterval;
    return seconds > 0 ? Date.now() + seconds * 1000 : Number.POSITIVE_INFINITY;
  }

  /** Lifetime of a copy of `entry` written now: its remaining time plus slack (0 = never expires). */
  private lifetimeOf(entry: LocalSession): { ttl: number; expiresAt: number } {
    if (!Number.isFinite(entry.expiresAt)) return { ttl: 0, expiresAt: Number.POSITIVE_INFINITY };
    const remaining = Math.max(1000, entry.expiresAt - Date.now());
    const ttl = Math.ceil((remaining * (1 + TTL_SLACK)) / 1000);
    return { ttl, expiresAt: Date.now() + ttl * 1000 };
  }

  private materialize(id: string, entry: LocalSession): LoadedSession {
    const started = stageStart();
    const data = JSON.parse(entry.body) as SessionData;
    data.cookie = entry.cookie as SessionData['cookie'];
    stageEnd('parse', started);
    return { id, data, json: entry.body };
  }

  /**
   * Loads a session this process does not hold and makes this process its owner. A session
   * another node owned gets a new id (this node's route, or fresh), so a stale copy left on the
   * old owner can never be served again (MSM issue #153).
   */
  private async takeOver(id: string): Promise<LoadedSession | undefined> {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) return undefined;
    const key = this.key(id);
    const result = await this.copies.read(key);
    if (result.corrupt.length > 0) {
      this.stats.inc('corruptSessions');
      this.logger.warn(`memcached node(s) ${result.corrupt.join(', ')}: stored session data is corrupt; starting a new session`);
      void this.copies.delete(key, result.corrupt);
    }
    if (!result.copy) return undefined;
    let data: SessionData;
    try {
      const started = performance.now();
      data = decodeSession(result.copy.json);
      this.stats.record('deserialization', performance.now() - started);
    } catch (err) {
      if (!(err instanceof CorruptSessionError)) throw err;
      this.stats.inc('corruptSessions');
      this.logger.warn(`${err.message}; starting a new session`);
      return undefined;
    }
    const own = this.evicted.delete(id);
    const newId = own ? id : this.idForTakeover(id);
    const moved = newId !== id;
    if (!own) this.stats.inc('takeovers');
    if (moved) this.superseded.set(newId, id);
    const encoded = encodeSession(data, this.settings.sessionAttributeFilter);
    const [node] = this.copies.nodesFor(key, 1);
    this.local.set(newId, {
      body: encoded.body,
      stored: encoded.body,
      version: result.copy.version,
      cookie: encoded.cookie,
      expiresAt: this.expiryOf(null),
      // Under a new id there is no backup yet; under the same id the copy read is the backup
      // when it sits on the node the ring gives now.
      backedUp: moved || result.stale.includes(node) ? undefined : encoded.body,
      backupNode: moved ? undefined : node,
      backupExpiresAt: 0,
      backupInFlight: false,
    });
    return { id: newId, data };
  }

  private idForTakeover(id: string): string {
    const route = this.settings.route;
    if (route) return routeOf(id) === route ? id : rerouted(id, route);
    return randomBytes(24).toString('base64url');
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
    });
    return next;
  }

  private async writeBackup(id: string, entry: LocalSession): Promise<void> {
    if (this.local.peek(id) !== entry) return; // destroyed or replaced meanwhile
    const key = this.key(id);
    const [node] = this.copies.nodesFor(key, 1);
    if (!node) {
      this.stats.inc('backupFailures'); // every node is down: relocation backs it up when one returns
      return;
    }
    if (this.isBackedUp(id, entry)) return; // an earlier queued backup wrote it
    const stored = entry.stored;
    const { ttl, expiresAt } = this.lifetimeOf(entry);
    const copy = { version: entry.version, ttl, json: storedJson({ body: entry.stored, cookie: entry.cookie }) };
    try {
      await this.copies.write(key, copy, [node]);
    } catch (err) {
      this.warnings.warn(`backup:${node}`, `backup to memcached node ${node} failed: ${(err as Error).message}`);
      return;
    }
    const previousNode = entry.backupNode;
    entry.backedUp = stored;
    entry.backupNode = node;
    entry.backupExpiresAt = expiresAt;
    // A copy left on the node that held it before is older than this one: remove it.
    if (previousNode !== undefined && previousNode !== node) void this.copies.delete(key, [previousNode]);
    const old = this.superseded.get(id);
    if (old !== undefined) {
      this.superseded.delete(id);
      void this.deleteCopy(old, undefined);
    }
  }

  /** Keeps the memcached copy alive as long as the session: a native touch, only when it would expire first. */
  private extend(id: string, entry: LocalSession): void {
    const node = entry.backupNode;
    if (node === undefined || entry.backupInFlight) return; // the pending backup sets the expiration
    if (entry.expiresAt <= entry.backupExpiresAt) {
      this.stats.inc('touchesSkipped');
      return;
    }
    const { ttl, expiresAt } = this.lifetimeOf(entry);
    const previous = entry.backupExpiresAt;
    entry.backupExpiresAt = expiresAt; // claimed now, so concurrent requests do not touch again
    void this.copies.touch(this.key(id), ttl, [node]).then(
      (missing) => {
        if (missing.length === 0) return;
        // The copy is gone (node restarted or evicted it): write it again.
        entry.backedUp = undefined;
        void this.backup(id, entry);
      },
      () => (entry.backupExpiresAt = previous),
    );
  }

  /**
   * After a node went down, came back or restarted, backs up again (in the background,
   * rate-limited) every local session whose copy is not where the ring now wants it.
   */
  private relocate(node: string, event: HealthEvent): void {
    for (const [id, entry] of this.local) {
      if (event === 'restarted' && entry.backupNode === node) entry.backedUp = undefined;
      if (this.isBackedUp(id, entry)) continue;
      this.stats.inc('memcachedFailovers');
      this.relocator.enqueue(id, () => this.backup(id, entry));
    }
  }

  private async deleteCopy(id: string, knownNode: string | undefined): Promise<void> {
    const key = this.key(id);
    const nodes = knownNode ? [knownNode] : this.copies.nodesFor(key, 1);
    if (nodes.length > 0) await this.copies.delete(key, nodes);
  }

  private expire(id: string, entry: LocalSession): void {
    this.local.delete(id);
    this.stats.inc('expiredRemoved');
    if (entry.backupNode !== undefined) void this.deleteCopy(id, entry.backupNode);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.local) {
      if (entry.expiresAt <= now) this.expire(id, entry);
    }
  }
}
