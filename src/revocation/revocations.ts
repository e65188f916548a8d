import { randomToken } from '../base/random-token.js';
import type { StorageCluster } from '../failover/cluster.js';
import type { StorageNode } from '../storage/storage-node.js';
import type { Statistics } from '../base/statistics.js';
import type { Sealing } from '../format/sealing.js';
import { DeadlineError } from '../base/deadline.js';
import { PushedTokens } from './pushed-tokens.js';

/** Nodes that hold each tombstone: two, so one node that is down or restarted empty loses none. */
const TOMBSTONE_NODES = 2;

/**
 * What a check found: revoked, not revoked, unknown (a tombstone node did not answer, none had
 * one), or lost: no tombstone, but every tombstone node lost (or, its token unread, may have
 * lost) its revocation data (restarted empty, flushed) since the check that last found the id
 * valid, so a tombstone written meanwhile may be gone; the caller must find the id valid some
 * other way before serving it.
 */
export type RevocationState = 'revoked' | 'valid' | 'unknown' | 'lost';

/**
 * What a check that found an id valid saw on its tombstone nodes: each node's revocation token,
 * read before the node was asked for the tombstone. While every token is unchanged, no tombstone
 * was written to those nodes since, so the id is still valid without asking for its tombstone.
 */
export interface RevocationMark {
  readonly key: string;
  readonly nodes: readonly string[];
  readonly tokens: readonly string[];
}

/**
 * A check's answer; `mark` when the id was found valid (or lost: the mark to keep once it is found
 * valid otherwise): the old one when a node's token could not be read.
 */
export interface RevocationCheck {
  state: RevocationState;
  mark?: RevocationMark;
}

/** The answer as a check resolves with it: a class, not a literal (see LoadedSession in modes/session-mode.ts). */
class CheckAnswer implements RevocationCheck {
  constructor(
    readonly state: RevocationState,
    readonly mark: RevocationMark | undefined,
  ) {}
}

/** A check waiting for its turn's round trip; it holds the waiting read's continuation (a class, as CheckAnswer). */
class PendingCheck {
  constructor(
    readonly key: string,
    readonly nodes: readonly string[],
    readonly known: RevocationMark | undefined,
    readonly resolve: (check: RevocationCheck) => void,
  ) {}
}

/** One turn's round trips: when the current one gives up on a node, and the nodes that already missed a deadline. */
class Turn {
  readonly late = new Set<string>();
  constructor(public until: number) {}
}

/** A node's revocation token as last read (undefined: the node had none), and when the read was sent. */
interface SeenToken {
  token: string | undefined;
  readAt: number;
}

/**
 * Revocation tombstones for sticky mode: a session id destroyed, regenerated or taken over
 * (renamed) gets a small `<prefix>revoked:<keyed hash of id>` item, so no process serves the id from
 * its memory afterwards. Tombstones go to nodes chosen on the FULL ring (see nodesFor), not on
 * this process's view of which nodes are up: processes may disagree about health, and must
 * still look in the same places.
 *
 * Each node also holds a revocation token (`<prefix>revoked:token`, `<epoch>.<random>`), whose
 * random part is replaced after every tombstone written there (same connection: memcached applies
 * them in order). A session found valid remembers its nodes' tokens; while they are unchanged, its
 * check is one token get per node, shared by every check of the event-loop turn, instead of a
 * tombstone get per session. Checks made in one turn are batched: one pipelined round trip per
 * node. A node found without a token gets one with a new epoch: it lost its data (restart, flush),
 * tombstones included, and a session whose nodes all did so since its last check is 'lost'.
 */
export class Revocations {
  private pending: PendingCheck[] = [];
  /** Checks that wait for every node's answer (takeovers): a batch of their own. */
  private pendingPatient: PendingCheck[] = [];
  private readonly seen = new Map<string, SeenToken>();
  private readonly tokenKey: string;
  /** Each node's token as last read, sealed and opened: an unchanged token is not opened again. */
  private readonly opened = new Map<string, { sealed: Buffer; token: string | undefined }>();

  /** The nodes' tokens as pushed to this process, on a backend with publish/subscribe. */
  private readonly pushed?: PushedTokens;

  /**
   * @param checkTimeout how long (ms) a check waits for a node: one that has not answered by then
   *   counts as not answering (see `check`).
   * @param pushStaleAfter see PushedTokens (the operation timeout)
   */
  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly sealing: Sealing,
    private readonly checkTimeout: number,
    pushStaleAfter: number,
  ) {
    this.tokenKey = `${sealing.prefix}revoked:token`;
    const messages = cluster.messages();
    if (messages) this.pushed = new PushedTokens(messages, this.tokenKey, sealing.prefix, pushStaleAfter, stats);
  }

  /** Stops the pushed tokens' heartbeats. */
  close(): void {
    this.pushed?.close();
  }

  /** Writes a node's token (storeIf semantics), published to every process where the backend can. */
  private storeToken(client: StorageNode, value: Buffer, version: bigint | undefined): Promise<boolean> {
    if (this.pushed) return this.pushed.store(client, value, version);
    return client.storeIf(this.tokenKey, value, 0, version).then((stored) => stored !== null);
  }

  /** The tombstone key: fixed length (keyed hash of the id), so every id has a valid one. */
  private key(id: string): string {
    return this.sealing.tombstoneKey(id);
  }

  /**
   * A node's token as it reads it (undefined: not sealed under the token key with one of the
   * secrets; such a token never matches a mark, so checks read tombstones).
   */
  private openToken(node: string, sealed: Buffer): string | undefined {
    const known = this.opened.get(node);
    // The same object on every strict read of a pushed token: compared by identity first.
    if (known && (known.sealed === sealed || known.sealed.equals(sealed))) return known.token;
    const token = this.sealing.open(this.tokenKey, sealed);
    this.opened.set(node, { sealed, token });
    return token;
  }

  /**
   * The tombstone nodes of `id`: the two after the first node of its copy's order on the full ring
   * (the node its copy lives on while every node is up). Losing both tombstones then leaves the
   * copy's node, where a takeover or destroy deleted the copy, to tell a revoked session from a
   * valid one (see RevocationState 'lost'). Failover nodes only with fewer than three regular
   * nodes (as the first ones of the order), so every process looks in the same places.
   */
  private nodesFor(id: string): string[] {
    return this.nodesOf(this.sealing.sessionKey(id));
  }

  /** The tombstone nodes of the session whose copy is stored under `key` (see nodesFor). */
  private nodesOf(key: string): string[] {
    const regular = this.cluster.preference(key, true);
    if (regular.length > TOMBSTONE_NODES) return regular.slice(1, 1 + TOMBSTONE_NODES);
    return this.cluster.preference(key).slice(0, TOMBSTONE_NODES);
  }

  /**
   * Writes the tombstone of `id`, living `ttlSeconds` (0: until memcached evicts it), then a new
   * revocation token on each of its nodes. Resolves once every tombstone node answered or missed
   * its deadline; true when at least one holds it. Also written under the older secrets' names:
   * while a rotation is rolled out, processes whose first secret is an older one look there.
   */
  async revoke(id: string, ttlSeconds: number): Promise<boolean> {
    const older = this.sealing.olderSessionKeys(id);
    const [written] = await Promise.all([
      this.writeTombstone(this.key(id), this.sealing.sessionKey(id), ttlSeconds),
      ...this.sealing.olderTombstoneKeys(id).map((key, i) => this.writeTombstone(key, older[i], ttlSeconds)),
    ]);
    this.stats.inc('revocations');
    return written;
  }

  /**
   * `revoke` for a session known only by its keys (a principal's index holds no ids): its
   * tombstone under the current secret only. True when at least one tombstone node holds it.
   */
  async revokeKeys(tombstoneKey: string, sessionKey: string, ttlSeconds: number): Promise<boolean> {
    const written = await this.writeTombstone(tombstoneKey, sessionKey, ttlSeconds);
    this.stats.inc('revocations');
    return written;
  }

  /** Writes one tombstone and replaces the tokens of its nodes; true when at least one node holds it. */
  private async writeTombstone(tombstoneKey: string, sessionKey: string, ttlSeconds: number): Promise<boolean> {
    const write = (node: string) =>
      this.cluster.run(node, async (client) => {
        // In order on one connection: the token read is of a node that already holds the tombstone.
        const [, current] = await Promise.all([client.set(tombstoneKey, this.sealing.seal(tombstoneKey, '1'), ttlSeconds), client.gets(this.tokenKey)]);
        const token = current ? this.openToken(node, current.value) : undefined;
        // Refused only when the token changed meanwhile (another tombstone, or a restart): changed either way.
        await this.storeToken(client, this.sealing.seal(this.tokenKey, token ? nextToken(token) : newToken()), current?.cas);
      });
    // A failure can leave the tombstone without its new token (a missed deadline on a loaded
    // machine): the revocation reports failure while the id is revoked after all, and a move
    // whose client kept the old id loses the session. Each node is written once more before that.
    const answers = await Promise.allSettled(this.nodesOf(sessionKey).map((node) => write(node).catch(() => write(node))));
    return answers.some((answer) => answer.status === 'fulfilled');
  }

  /**
   * Whether a check of a session last found valid with `mark` may be skipped: every one of its
   * nodes' tokens is unchanged, as pushed to this process (current: see PushedTokens), or as read
   * less than `interval` ms ago (never with interval 0).
   */
  unchangedWithin(mark: RevocationMark | undefined, interval: number): boolean {
    if (!mark) return false;
    if (this.pushed && this.pushedUnchanged(mark, this.pushed)) return true;
    if (interval <= 0) return false;
    const now = Date.now();
    // A plain loop: this runs on every sticky read.
    for (let i = 0; i < mark.nodes.length; i++) {
      const seen = this.seen.get(mark.nodes[i]);
      if (seen === undefined || now - seen.readAt >= interval || seen.token !== mark.tokens[i]) return false;
    }
    return true;
  }

  /** Whether every node of `mark` has pushed a current token, the one the mark recorded. */
  private pushedUnchanged(mark: RevocationMark, pushed: PushedTokens): boolean {
    for (let i = 0; i < mark.nodes.length; i++) {
      const value = pushed.current(mark.nodes[i]);
      if (!value || this.openToken(mark.nodes[i], value) !== mark.tokens[i]) return false;
    }
    return true;
  }

  /**
   * Whether `id` was revoked; checks made in the same event-loop turn share one round trip per
   * node. With `known` (what the last check that found it valid saw), the tombstone is asked for
   * only when one of its nodes' tokens changed since: a second round trip. A node that has not
   * answered `checkTimeout` ms after the turn's round trip began counts as one that is down: a
   * tombstone on the other node still answers 'revoked'; none there answers 'unknown'. When no
   * node answered in time, the check waits for them as a patient one does. A
   * `patient` check (a takeover, which then serves a copy from memcached) waits for every node
   * as long as its calls' own deadline (operationTimeout).
   */
  check(id: string, known?: RevocationMark, patient = false): Promise<RevocationCheck> {
    this.stats.inc('revocationChecks');
    const key = known?.key ?? this.key(id);
    return new Promise((resolve) => this.enqueue(new PendingCheck(key, known?.nodes ?? this.nodesFor(id), known, resolve), patient));
  }

  /** Queues a check for the next flush of its kind (one per event-loop turn). */
  private enqueue(check: PendingCheck, patient: boolean): void {
    if (patient) {
      if (this.pendingPatient.length === 0) setImmediate(() => void this.flush(this.take(true), Number.POSITIVE_INFINITY));
      this.pendingPatient.push(check);
    } else {
      if (this.pending.length === 0) setImmediate(() => void this.flush(this.take(false), this.checkTimeout));
      this.pending.push(check);
    }
  }

  /** The checks waiting for the next flush of their kind. */
  private take(patient: boolean): PendingCheck[] {
    const batch = patient ? this.pendingPatient : this.pending;
    if (patient) this.pendingPatient = [];
    else this.pending = [];
    return batch;
  }

  private async flush(batch: PendingCheck[], timeout: number): Promise<void> {
    // Every node's token, and in the same round trip the tombstones of ids checked for the first time.
    // Plain loops and no empty lookups: this runs for every strict sticky read.
    let firstChecks: PendingCheck[] | undefined;
    for (const check of batch) if (!check.known) (firstChecks ??= []).push(check);
    const turn = new Turn(performance.now() + timeout);
    const [tokens, first] = await Promise.all([
      this.readTokens(batch, turn),
      firstChecks ? this.readTombstones(firstChecks, turn) : NO_STATES,
    ]);
    let changed: Set<PendingCheck> | undefined;
    for (const check of batch) if (check.known && !tokensUnchanged(check.known, tokens)) (changed ??= new Set()).add(check);
    // The second round trip has a deadline of its own; a node that missed the first is not asked again.
    turn.until = performance.now() + timeout;
    const second = changed ? await this.readTombstones([...changed], turn) : NO_STATES;
    for (const check of batch) {
      const unchanged = check.known !== undefined && !changed?.has(check);
      let state = (unchanged ? 'valid' : (check.known ? second : first).get(check.key)) ?? 'unknown';
      // No node answered in time (a busy machine is slow everywhere), or one that did lost its data
      // since the session's last check: the check waits for the late ones after all.
      if (state === 'unknown' && check.nodes.some((node) => turn.late.has(node)) && (check.nodes.every((node) => turn.late.has(node)) || lostSince(check.known, tokens) > 0)) {
        this.enqueue(check, true);
        continue;
      }
      if (!unchanged && state === 'valid' && check.known && mayHaveLostAll(check.known, tokens)) state = 'lost';
      // With its tokens unchanged, a check's mark is the one it came with: the session's entry
      // keeps that object instead of a new one per read. Without every node's token, the session
      // keeps its old mark: dropping it would hide a later loss of its nodes' data.
      const mark = unchanged ? check.known : state === 'valid' || state === 'lost' ? (markOf(check, tokens) ?? check.known) : undefined;
      check.resolve(new CheckAnswer(state, mark));
    }
  }

  /**
   * The current token of every node of the batch (absent: the node did not answer). A node
   * without one (new, restarted, evicted) is given one.
   */
  private async readTokens(batch: PendingCheck[], turn: Turn): Promise<Map<string, string>> {
    const nodes = new Set<string>();
    for (const check of batch) for (const node of check.nodes) nodes.add(node);
    const readAt = Date.now();
    const tokens = new Map<string, string>();
    await Promise.all(Array.from(nodes, (node) => this.readToken(node, readAt, tokens, turn)));
    return tokens;
  }

  /**
   * Runs `op` on `node`, giving up (DeadlineError) at the turn's deadline; the call itself goes on
   * under its own deadline (operationTimeout), so a node is never counted down for missing this one.
   */
  private ask<T>(node: string, turn: Turn, op: (client: StorageNode) => Promise<T>): Promise<T> {
    const what = `revocation check on ${node}`;
    if (turn.late.has(node)) return Promise.reject(new DeadlineError(what, this.checkTimeout));
    const work = this.cluster.run(node, op);
    if (turn.until === Number.POSITIVE_INFINITY) return work;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      // Timers run before the poll for I/O: an answer that arrived while the event loop was busy is
      // read (setImmediate runs after the poll) before the node is declared late.
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (settled) return;
            settled = true;
            if (!turn.late.has(node)) {
              turn.late.add(node);
              this.stats.inc('revocationCheckTimeouts');
            }
            reject(new DeadlineError(what, this.checkTimeout));
          }),
        Math.max(0, turn.until - performance.now()),
      );
      work.then(
        (value) => {
          clearTimeout(timer);
          if (!settled) resolve(value);
          settled = true;
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (!settled) reject(err);
          settled = true;
        },
      );
    });
  }

  /** Reads one node's token into `tokens` and records it as seen; a node that did not answer is forgotten. */
  private async readToken(node: string, readAt: number, tokens: Map<string, string>, turn: Turn): Promise<void> {
    try {
      let value = this.pushed?.current(node);
      if (value === undefined) {
        if (this.pushed) this.stats.inc('revocationPushFallbacks');
        value = await this.ask(node, turn, (client) => client.get(this.tokenKey));
      }
      let token = value ? this.openToken(node, value) : undefined;
      if (!value) {
        // A token this add creates was there before any later tombstone (those replace it): as
        // good as one read. If the add is refused, a tombstone may have come meanwhile: none.
        const created = newToken();
        const sealed = this.sealing.seal(this.tokenKey, created);
        if (await this.ask(node, turn, (client) => this.storeToken(client, sealed, undefined))) {
          token = created;
          this.opened.set(node, { sealed, token });
        }
      }
      // Updated in place: one record per node for the process's life, not one per read.
      const seen = this.seen.get(node);
      if (seen) {
        seen.token = token;
        seen.readAt = readAt;
      } else this.seen.set(node, { token, readAt });
      if (token !== undefined) tokens.set(node, token);
    } catch {
      this.seen.delete(node);
    }
  }

  /** The tombstone state of each key: revoked when a node holds it, unknown when a node did not answer. */
  private async readTombstones(checks: PendingCheck[], turn: Turn): Promise<ReadonlyMap<string, RevocationState>> {
    const states = new Map<string, RevocationState>();
    if (checks.length === 0) return states;
    const byNode = new Map<string, Set<string>>();
    for (const { key, nodes } of checks) {
      states.set(key, 'valid');
      for (const node of nodes) {
        if (!byNode.has(node)) byNode.set(node, new Set());
        byNode.get(node)!.add(key);
      }
    }
    await Promise.all(
      [...byNode].map(async ([node, keys]) => {
        const list = [...keys];
        try {
          const values = await this.ask(node, turn, (client) => client.getMany(list));
          // Any item under a tombstone key revokes, opened or not: one that fails to open was put
          // there by whoever can delete the session anyway, and honouring it errs on the safe side.
          list.forEach((key, i) => values[i] !== null && states.set(key, 'revoked'));
        } catch {
          // A key one of whose nodes did not answer may have its only tombstone there.
          for (const key of list) if (states.get(key) !== 'revoked') states.set(key, 'unknown');
        }
      }),
    );
    return states;
  }
}

/** What a batch found no tombstone to read for. */
const NO_STATES: ReadonlyMap<string, RevocationState> = new Map();

/** Whether every node of `mark` still has the token the mark recorded. */
function tokensUnchanged(mark: RevocationMark, tokens: ReadonlyMap<string, string>): boolean {
  for (let i = 0; i < mark.nodes.length; i++) if (tokens.get(mark.nodes[i]) !== mark.tokens[i]) return false;
  return true;
}

/** The mark of a check found valid, when every one of its nodes answered with a token. */
function markOf(check: PendingCheck, tokens: ReadonlyMap<string, string>): RevocationMark | undefined {
  const seen = check.nodes.map((node) => tokens.get(node));
  return seen.every((t) => t !== undefined) ? { key: check.key, nodes: check.nodes, tokens: seen as string[] } : undefined;
}

/**
 * A node's revocation token: `<epoch>.<random>`. The epoch is drawn when a node has no token (it is
 * new, or lost its data) and kept by every tombstone written there, which replaces the random
 * part: a token never comes back once replaced, and a new epoch means the node lost its data.
 */
function newToken(): string {
  return `${randomToken(9)}.${randomToken(12)}`;
}

/** The token after one more tombstone on its node: same epoch, new random part. */
function nextToken(token: string): string {
  return `${epochOf(token)}.${randomToken(12)}`;
}

/** The epoch of a token (a token without one, written by an earlier version, is its own epoch). */
function epochOf(token: string): string {
  const dot = token.indexOf('.');
  return dot < 0 ? token : token.slice(0, dot);
}

/**
 * Whether every node of `mark` may have lost its data since the mark: at least one answered with
 * a token of another epoch, and every other one did too or gave no token this turn (its token
 * read failed though its tombstone read did not, or it had none and another process gave it one
 * first): such a node may have lost its data as well.
 */
function mayHaveLostAll(mark: RevocationMark, tokens: ReadonlyMap<string, string>): boolean {
  const lost = lostSince(mark, tokens);
  let unread = 0;
  for (const node of mark.nodes) if (!tokens.has(node)) unread++;
  return lost > 0 && lost + unread === mark.nodes.length;
}

/** How many nodes of `mark` answered with a token of another epoch: each lost its data since the mark. */
function lostSince(mark: RevocationMark | undefined, tokens: ReadonlyMap<string, string>): number {
  let lost = 0;
  for (let i = 0; mark && i < mark.nodes.length; i++) {
    const token = tokens.get(mark.nodes[i]);
    if (token !== undefined && epochOf(token) !== epochOf(mark.tokens[i])) lost++;
  }
  return lost;
}
