import type { StorageCluster } from '../failover/cluster.js';
import type { Sealing } from '../format/sealing.js';
import { SessionStoreUnavailableError } from '../base/errors.js';

/**
 * One session of a principal, as the index records it. Only keyed hashes of the session id are
 * kept (the key of its copies and of its tombstone): what memcached holds never gives a usable id.
 */
export interface IndexEntry {
  /** The storage key of the session's copies (see Sealing.sessionKey). */
  readonly key: string;
  /** The key of its revocation tombstone (see Sealing.tombstoneKey). */
  readonly tombstone: string;
  /** When the principal was recorded for it (ms since the epoch). */
  readonly recordedAt: number;
  /** Lifetime in seconds the session had then (0: never expires). */
  readonly ttl: number;
  /** The route of the app node that recorded it (sticky mode: the node that serves it). */
  readonly route?: string;
}

/** Read-modify-write attempts per node when other writers change the index meanwhile. */
const WRITE_ATTEMPTS = 5;

/** Longest principal accepted: it is only hashed, but a megabyte-long one is a bug. */
const MAX_PRINCIPAL_LENGTH = 1024;

/** The `principal` option: the principal a session belongs to (a user id), or undefined. */
export type PrincipalFunction = (session: object) => unknown;

/** The default `principal`: passport's `session.passport.user` when it is a string or a number. */
export function passportUser(session: object): string | undefined {
  const user = (session as { passport?: { user?: unknown } }).passport?.user;
  return typeof user === 'string' || typeof user === 'number' ? String(user) : undefined;
}

/**
 * The principal `principalOf` gives `session`: a non-empty string, or undefined (none). A number is
 * taken as its decimal string; anything else is the application's bug and throws a TypeError.
 */
export function principalOf(fn: PrincipalFunction, session: object): string | undefined {
  const value = fn(session);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') {
    throw new TypeError(`memcached-session-manager: option "principal" must return a string or undefined, got ${typeof value}`);
  }
  if (value.length > MAX_PRINCIPAL_LENGTH) {
    throw new TypeError(`memcached-session-manager: option "principal" returned ${value.length} characters, at most ${MAX_PRINCIPAL_LENGTH} are allowed`);
  }
  return value;
}

/**
 * Each principal's sessions: a sealed list under `<prefix>principal:<keyed hash>` on the key's
 * home nodes (its first three nodes on the full ring, the same in every process whatever it
 * thinks is up). A session is recorded on every home node that answers and counts as recorded
 * once half of them hold it (two of three, one of two); a read asks them all and needs more than
 * half to answer, so it always meets a node of every recorded session. With three nodes, one may
 * be down at either time; with two, a login needs one and a revocation both. Entries are added
 * and removed by versioned read-modify-write (storeIf), so concurrent writers never drop each
 * other's entries.
 */
export class PrincipalIndex {
  constructor(
    private readonly cluster: StorageCluster,
    private readonly sealing: Sealing,
  ) {}

  /**
   * Adds (or replaces) `entry` in the principal's index. Resolves once half of its home nodes
   * (rounded up) hold it, with the longest list written; rejects with SessionStoreUnavailableError
   * otherwise, so that a session the index may miss is never reported saved (it could not be
   * logged out everywhere).
   */
  async record(principal: string, entry: IndexEntry): Promise<number> {
    const key = this.sealing.principalKey(principal);
    const nodes = this.cluster.homeNodes(key);
    let longest = 0;
    const answers = await Promise.allSettled(
      nodes.map((node) =>
        this.update(node, key, (entries) => {
          const next = [...entries.filter((e) => e.key !== entry.key), entry];
          longest = Math.max(longest, next.length);
          return next;
        }),
      ),
    );
    const held = answers.filter((answer) => answer.status === 'fulfilled').length;
    if (held < writeQuorum(nodes.length)) {
      const failure = answers.find((answer) => answer.status === 'rejected') as PromiseRejectedResult | undefined;
      throw new SessionStoreUnavailableError(`the session's user could not be recorded on ${writeQuorum(nodes.length)} of ${nodes.length} ${this.cluster.kind} nodes`, failure?.reason);
    }
    return longest;
  }

  /**
   * Every session recorded for the principal (on any home node that answered). Rejects with
   * SessionStoreUnavailableError when half of them or fewer answered: the list could be incomplete.
   */
  async read(principal: string): Promise<IndexEntry[]> {
    const key = this.sealing.principalKey(principal);
    const nodes = this.cluster.homeNodes(key);
    const answers = await Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.get(key))));
    const entries = new Map<string, IndexEntry>();
    let answered = 0;
    for (const answer of answers) {
      if (answer.status === 'rejected') continue;
      answered++;
      for (const entry of answer.value ? this.open(key, answer.value) : []) {
        const known = entries.get(entry.key);
        if (!known || known.recordedAt < entry.recordedAt) entries.set(entry.key, entry);
      }
    }
    if (answered < readQuorum(nodes.length)) {
      const failure = answers.find((answer) => answer.status === 'rejected') as PromiseRejectedResult;
      throw new SessionStoreUnavailableError(`the user's sessions could not be read: ${nodes.length - answered} of ${nodes.length} ${this.cluster.kind} nodes did not answer`, failure.reason);
    }
    return [...entries.values()];
  }

  /** Removes the sessions stored under `keys` from the principal's index, on every home node that answers (best effort). */
  async remove(principal: string, keys: ReadonlySet<string>): Promise<void> {
    if (keys.size === 0) return;
    const key = this.sealing.principalKey(principal);
    await Promise.allSettled(this.cluster.homeNodes(key).map((node) => this.update(node, key, (entries) => entries.filter((e) => !keys.has(e.key)))));
  }

  /** Rewrites one node's list with `change`, retrying while other writers change it meanwhile. */
  private update(node: string, key: string, change: (entries: IndexEntry[]) => IndexEntry[]): Promise<void> {
    return this.cluster.run(node, async (client) => {
      for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        const current = await client.gets(key);
        const entries = current ? this.open(key, current.value) : [];
        const next = change(entries);
        if (current && next.length === 0) {
          if (await client.deleteIf(key, current.cas)) return;
          continue;
        }
        if (!current && next.length === 0) return;
        if ((await client.storeIf(key, this.sealing.seal(key, JSON.stringify(next.map(stored))), 0, current?.cas)) !== null) return;
      }
      throw new Error(`the user's session index on ${node} kept changing; gave up after ${WRITE_ATTEMPTS} attempts`);
    });
  }

  /** The entries sealed under `key`; none when it does not open (forged, or sealed with a retired secret) or is malformed. */
  private open(key: string, value: Buffer): IndexEntry[] {
    const text = this.sealing.open(key, value);
    if (text === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return [];
    }
    return Array.isArray(parsed) ? parsed.flatMap(entryOf) : [];
  }
}

/** Nodes of `n` that must hold an entry: half, rounded up. */
function writeQuorum(n: number): number {
  return Math.ceil(n / 2);
}

/** Nodes of `n` that must answer a read: more than half, so a read and a write always share a node. */
function readQuorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** The stored form of an entry: short names, it is repeated per session. */
function stored(entry: IndexEntry): Record<string, unknown> {
  return { k: entry.key, t: entry.tombstone, c: entry.recordedAt, x: entry.ttl, r: entry.route };
}

/** An entry read back, or none when the stored form is not one. */
function entryOf(raw: unknown): IndexEntry[] {
  const e = raw as { k?: unknown; t?: unknown; c?: unknown; x?: unknown; r?: unknown } | null;
  if (!e || typeof e.k !== 'string' || typeof e.t !== 'string' || typeof e.c !== 'number' || typeof e.x !== 'number') return [];
  return [{ key: e.k, tombstone: e.t, recordedAt: e.c, ttl: e.x, route: typeof e.r === 'string' ? e.r : undefined }];
}
