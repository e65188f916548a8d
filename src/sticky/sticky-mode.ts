import type { LoadedSession, SessionMode } from '../manager/mode.js';
import type { ManagerSettings } from '../manager/options.js';
import type { Statistics } from '../manager/statistics.js';
import { ThrottledWarnings, type Logger } from '../manager/logger.js';
import type { Session } from '../manager/session.js';
import type { SessionData } from '../manager/store.js';
import type { MemcachedCluster } from '../failover/cluster.js';
import { withDeadline } from '../memcached/deadline.js';
import { memcachedExpiration } from '../memcached/expiration.js';
import { isStorableId, storageKey } from '../memcached/storage-key.js';
import {
  attributesJson,
  checkItemSize,
  CorruptSessionError,
  decodeSession,
  encodeSession,
  storedJson,
} from '../memcached/session-codec.js';
import { SessionStoreUnavailableError } from '../manager/errors.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';
import { rerouted, routeOf } from './route.js';

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
  /** Per-session backup chains: backups of one session never overtake each other. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Old ids whose memcached copies go once the renamed session is backed up (route takeover). */
  private readonly superseded = new Map<string, string>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly warnings: ThrottledWarnings;

  constructor(
    private readonly settings: ManagerSettings,
    private readonly cluster: MemcachedCluster,
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    this.local = new LocalSessions(
      { maxSessions: settings.maxLocalSessions, maxBytes: settings.maxLocalBytes },
      () => stats.inc('localEvictions'),
    );
    stats.gauge('localSessions', () => this.local.size);
    stats.gauge('localBytes', () => this.local.totalBytes);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL);
    this.sweeper.unref();
    this.warnings = new ThrottledWarnings(logger);
  }

  async load(id: string): Promise<LoadedSession | undefined> {
    const entry = this.local.get(id);
    if (!entry) return this.takeOver(id);
    if (entry.expiresAt <= Date.now()) {
      this.expire(id, entry);
      return undefined;
    }
    return { id, data: this.materialize(entry) };
  }

  async save(id: string, session: Session | SessionData): Promise<void> {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) {
      throw new TypeError('session id cannot be a memcached key (1-250 printable characters, no spaces, prefix included)');
    }
    const key = this.key(id);
    const started = performance.now();
    const encoded = encodeSession(session, this.settings.sessionAttributeFilter);
    const body = this.settings.sessionAttributeFilter ? attributesJson(session) : encoded.body;
    checkItemSize(key, storedJson(encoded), this.settings.itemSizeLimit);
    this.stats.record('serialization', performance.now() - started);

    const entry: LocalSession = this.local.delete(id) ?? { backupExpiresAt: 0, backupInFlight: false } as LocalSession;
    entry.body = body;
    entry.stored = encoded.body;
    entry.hash = encoded.hash;
    entry.cookie = encoded.cookie;
    entry.expiresAt = this.expiryOf(encoded.cookie);
    this.local.set(id, entry);

    if (entry.hash === entry.backupHash && entry.backupNode === this.cluster.nodesFor(key, 1)[0]) {
      this.stats.inc('backupsSkippedUnchanged');
      this.extend(id, entry);
      return;
    }
    const backedUp = this.backup(id, entry);
    if (this.settings.sessionBackupAsync) return;
    // Synchronous backup: the response waits, but never longer than sessionBackupTimeout.
    await withDeadline(backedUp, this.settings.sessionBackupTimeout, 'session backup').catch(() => undefined);
  }

  async touch(id: string, session: Session | SessionData): Promise<void> {
    const entry = this.local.peek(id);
    if (!entry) return;
    entry.cookie = JSON.parse(JSON.stringify(session.cookie));
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

  async destroy(id: string): Promise<void> {
    const entry = this.local.delete(id);
    // A backup still in flight must land before the delete, or it would resurrect the session.
    await this.chains.get(id);
    await this.deleteCopy(id, entry?.backupNode);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
    this.cluster.close();
  }

  private key(id: string): string {
    return storageKey(this.settings.storageKeyPrefix, id);
  }

  /** When a session with this cookie expires: the cookie's own expiry, else the inactivity timeout. */
  private expiryOf(cookie: unknown): number {
    const expires = (cookie as { expires?: string | null } | null)?.expires;
    if (expires) return new Date(expires).valueOf();
    const seconds = this.settings.maxInactiveInterval;
    return seconds > 0 ? Date.now() + seconds * 1000 : Number.POSITIVE_INFINITY;
  }

  /** memcached expiration for a copy of `entry` written now. */
  private expirationFor(entry: LocalSession): { expiration: number; expiresAt: number } {
    if (!Number.isFinite(entry.expiresAt)) return { expiration: 0, expiresAt: Number.POSITIVE_INFINITY };
    const remaining = Math.max(1000, entry.expiresAt - Date.now());
    const lifetime = remaining * (1 + TTL_SLACK);
    return { expiration: memcachedExpiration(lifetime / 1000), expiresAt: Date.now() + lifetime };
  }

  private materialize(entry: LocalSession): SessionData {
    const data = JSON.parse(entry.body) as SessionData;
    data.cookie = entry.cookie as SessionData['cookie'];
    return data;
  }

  /** Loads a session another app node owned, and makes this node its owner. */
  private async takeOver(id: string): Promise<LoadedSession | undefined> {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) return undefined;
    const key = this.key(id);
    const [node] = this.cluster.nodesFor(key, 1);
    if (!node) throw new SessionStoreUnavailableError('no memcached node is up to load the session from');
    let raw: Buffer | null;
    try {
      raw = await this.stats.time('load', () => this.cluster.run(node, (client) => client.get(key)));
    } catch (err) {
      this.stats.inc('loadFailures');
      throw new SessionStoreUnavailableError(`loading the session from memcached node ${node} failed`, err);
    }
    this.stats.inc('loadsFromMemcached');
    if (!raw) return undefined;
    let data: SessionData;
    try {
      const started = performance.now();
      data = decodeSession(raw);
      this.stats.record('deserialization', performance.now() - started);
    } catch (err) {
      if (!(err instanceof CorruptSessionError)) throw err;
      this.stats.inc('corruptSessions');
      this.logger.warn(`memcached node ${node}: ${err.message}; starting a new session`);
      void this.deleteCopy(id, node);
      return undefined;
    }
    this.stats.inc('takeovers');
    const encoded = encodeSession(data, this.settings.sessionAttributeFilter);
    const route = this.settings.route;
    const newId = route && routeOf(id) !== route ? rerouted(id, route) : id;
    const moved = newId !== id;
    if (moved) this.superseded.set(newId, id);
    this.local.set(newId, {
      body: encoded.body,
      stored: encoded.body,
      hash: encoded.hash,
      cookie: encoded.cookie,
      expiresAt: this.expiryOf(null),
      // Under a new id there is no backup yet; under the same id the loaded copy is the backup.
      backupHash: moved ? undefined : encoded.hash,
      backupNode: moved ? undefined : node,
      backupExpiresAt: 0,
      backupInFlight: false,
    });
    return { id: newId, data };
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
    const [node] = this.cluster.nodesFor(key, 1);
    if (!node) {
      this.stats.inc('backupFailures');
      return;
    }
    if (entry.backupHash === entry.hash && entry.backupNode === node) return; // an earlier queued backup wrote it
    const hash = entry.hash;
    const { expiration, expiresAt } = this.expirationFor(entry);
    const json = storedJson({ body: entry.stored, cookie: entry.cookie });
    try {
      await this.stats.time('backup', () => this.cluster.run(node, (client) => client.set(key, json, expiration)));
    } catch (err) {
      this.stats.inc('backupFailures');
      this.warnings.warn(`backup:${node}`, `backup to memcached node ${node} failed: ${(err as Error).message}`);
      return;
    }
    this.stats.inc('backups');
    entry.backupHash = hash;
    entry.backupNode = node;
    entry.backupExpiresAt = expiresAt;
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
    const { expiration, expiresAt } = this.expirationFor(entry);
    const previous = entry.backupExpiresAt;
    entry.backupExpiresAt = expiresAt; // claimed now, so concurrent requests do not touch again
    const key = this.key(id);
    void this.stats
      .time('touch', () => this.cluster.run(node, (client) => client.touch(key, expiration)))
      .then(
        (found) => {
          this.stats.inc('touches');
          if (found) return;
          // The copy is gone (node restarted or evicted it): write it again.
          entry.backupHash = undefined;
          void this.backup(id, entry);
        },
        () => {
          entry.backupExpiresAt = previous;
          this.stats.inc('backupFailures');
        },
      );
  }

  private async deleteCopy(id: string, knownNode: string | undefined): Promise<void> {
    const key = this.key(id);
    const node = knownNode ?? this.cluster.nodesFor(key, 1)[0];
    if (!node) return;
    try {
      await this.stats.time('delete', () => this.cluster.run(node, (client) => client.delete(key)));
      this.stats.inc('deletes');
    } catch (err) {
      // The copy expires on its own; a failed delete must not fail the request.
      this.warnings.warn(`delete:${node}`, `deleting a session from memcached node ${node} failed: ${(err as Error).message}`);
    }
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
