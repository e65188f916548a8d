import { OptionError } from './base/errors.js';
import { createSecretKey, KeyObject, type CipherKey } from 'node:crypto';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { CookieOptions } from './session/cookie.js';
import type { SigningKey } from './request/signature.js';
import { logEvent, type Logger } from './base/logger.js';
import type { SessionRequest } from './session/session.js';
import type { SessionData, Store } from './session/store.js';
import type { Store as ExpressSessionStore } from 'express-session';
import { parseNodeList, parseFailoverNodes, type NodeAddress } from './storage/node-list.js';
import { parseLockingMode, type LockingMode } from './locking/locking-policy.js';
import { Sealing } from './format/sealing.js';
import { MAX_LIFETIME_SECONDS } from './base/lifetime.js';
import { passportUser, type PrincipalFunction } from './revocation/principal-index.js';

/** Options of the `session()` factory: express-session's, plus MSM's. */
export interface SessionOptions {
  // express-session options
  /**
   * Secret(s) used to sign the cookie; the first signs, all verify. Required. As in express-session,
   * a secret is a string or bytes (a `Buffer` such as `crypto.randomBytes(32)`, any typed array, or
   * a secret `KeyObject`); a string signs as its UTF-8 bytes.
   */
  secret?: CipherKey | CipherKey[];
  /** Cookie name. Default `connect.sid`. */
  name?: string;
  /** @deprecated express-session's old name for `name`. */
  key?: string;
  /** Cookie attributes, or a function of the request returning them. */
  cookie?: CookieOptions | ((req: SessionRequest) => CookieOptions);
  /** Session id generator. Default: 24 random bytes, base64url (192 bits). */
  genid?: (req: SessionRequest) => string;
  /** Trust `X-Forwarded-Proto` for secure cookies (`true`), never (`false`), or follow `req.secure` (undefined). */
  proxy?: boolean;
  /** Save unchanged sessions at the end of every request. Default true (as express-session, deprecated). */
  resave?: boolean;
  /** Re-send the cookie on every response. Default false. */
  rolling?: boolean;
  /** Save new sessions that were not modified. Default true (as express-session, deprecated). */
  saveUninitialized?: boolean;
  /** An express-session store (connect-redis, connect-memcached, `MemoryStore`, …). Not allowed together with `memcachedNodes`, `redisNodes` or `peers`. */
  store?: Store | ExpressSessionStore;
  /** What happens when `req.session` is deleted or set to null. Default `keep`. */
  unset?: 'destroy' | 'keep';

  // memcached-session-manager options
  /** `"n1:host:port,n2:host:port"`. When set, the manager owns the store (MSM mode). */
  memcachedNodes?: string;
  /**
   * `"r1:host:port,r2:host:port"`: independent Redis servers (Redis 6 or later; not Redis Cluster),
   * instead of memcached; needs the `redis` package. Every mode and failover option applies.
   */
  redisNodes?: string;
  /** Redis ACL user name (with `redisPassword`). */
  redisUsername?: string;
  /** Redis password: of `redisUsername`, or of the default user (`requirepass`). */
  redisPassword?: string;
  /** TLS to the Redis nodes: `true`, or Node's `tls.connect` options (`ca`, `cert`, `key`, `servername`, …). */
  redisTls?: boolean | TlsOptions;
  /**
   * `"a:host:port,b:host:port"`: the app processes themselves keep each other's session copies, with
   * no memcached (sticky mode only). Each process listens on its own entry (`self`).
   */
  peers?: string;
  /** With `peers`: this process's id in the list; its peer endpoint listens on that address only. */
  self?: string;
  /** With `peers`: `backup` (default) copies each session to one other peer, `all` to every other peer. */
  replication?: 'backup' | 'all';
  /** Node ids used only when no other node is available, e.g. `"n1"`. */
  failoverNodes?: string;
  /** Sticky mode (local primary copy, memcached backup). Default true. */
  sticky?: boolean;
  /** Deadline for every memcached call, in ms. Default 1000. */
  operationTimeout?: number;
  /** Back up asynchronously, after the response. Default true. */
  sessionBackupAsync?: boolean;
  /** With `sessionBackupAsync: false`, how long the response waits for the backup, in ms. Default 100. */
  sessionBackupTimeout?: number;
  /** Requests whose path matches never load or save a session (static files). */
  requestUriIgnorePattern?: string | RegExp;
  /** Only attributes whose names match are stored in memcached. */
  sessionAttributeFilter?: string | RegExp;
  /** Prefix of every memcached key (namespacing several apps on one cluster). Default `""`. */
  storageKeyPrefix?: string;
  /**
   * Encrypt session contents in memcached (AES-256-GCM, keys derived from `secret`). With
   * `false` they are stored readable but still authenticated: a forged or altered copy is still
   * refused. Default true.
   */
  encryptSessions?: boolean;
  /**
   * Migration from a version that stored sessions unsealed (plain JSON under the raw session id):
   * such a copy is read once and stored sealed. Whoever can write to memcached can forge such a
   * copy, so turn this on only for the migration, for at most one session lifetime. Default false.
   */
  acceptUnsealedSessions?: boolean;
  /** `false` keeps sessions in this process only (no memcached). Default true. */
  enabled?: boolean;
  /** Collect statistics. Default true. */
  enableStatistics?: boolean;
  /** SASL user name for memcached. */
  username?: string;
  /** SASL password for memcached. */
  password?: string;
  /** This app node's route (Tomcat jvmRoute), appended to session ids for sticky load balancers. */
  route?: string;
  /** Inactivity timeout in seconds for sessions whose cookie has no `maxAge`. `<= 0`: never. Default 1800. */
  maxInactiveInterval?: number;
  /** Sticky mode: most sessions held in memory before backed-up ones are dropped. Default 100000. */
  maxLocalSessions?: number;
  /** Sticky mode: memory budget (serialized bytes) for local sessions. Default: unbounded. */
  maxLocalBytes?: number;
  /** Largest value memcached accepts (its `-I` setting), in bytes. Default 1048576. */
  itemSizeLimit?: number;
  /** Where health changes, corrupt data and backup failures are reported. Default `console`. */
  logger?: Logger;
  /** Requests whose path matches keep their session alive without loading it (`req.session` is undefined). */
  touchOnlyUriPattern?: string | RegExp;
  /** Non-sticky mode: `none` (default), `all`, `auto` or `uriPattern:<regex>`. */
  lockingMode?: LockingModeOption;
  /** Non-sticky mode: lock lifetime in memcached, in seconds (renewed while held). Default 5. */
  lockExpiration?: number;
  /** Non-sticky mode: when a lock cannot be had within `operationTimeout`: `closed` (503, default) or `open` (run unlocked). */
  lockFailure?: 'closed' | 'open';
  /**
   * Non-sticky mode: most time (ms) one request spends on its session in memcached, loading (lock
   * and read) and storing (write and lock release) together; the app's own time in between does
   * not count. When it runs out the request answers 503 and writes nothing. Default: twice
   * `operationTimeout`; at least `operationTimeout`.
   */
  requestDeadline?: number;
  /**
   * Sticky mode: how long (ms) a session held in memory is served without checking memcached for
   * its revocation (destroy, regenerate or takeover on another node). Default 0: checked on every request.
   */
  revocationCheckInterval?: number;
  /**
   * Sticky mode: how long (ms) a revocation check waits for a tombstone node before counting it as
   * not answering (as if it were down: a tombstone on another node still refuses the session; with
   * none found, the session is served and checked again on its next request). Default 50, at most
   * `operationTimeout`.
   */
  revocationCheckTimeout?: number;
  /**
   * Who a session belongs to (a user id), recorded when the session is saved with one, so that
   * `sessionsOf` lists a user's sessions and `revokeSessionsOf` logs them all out. A function of
   * the session returning a string (or number) or undefined; `false` records nothing. Default:
   * passport's `session.passport.user` (when a string or a number).
   */
  principal?: ((session: SessionData) => string | number | undefined) | false;
}

/** The values `lockingMode` accepts; `uriPattern:` is followed by a regular expression matched against the path. */
export type LockingModeOption = 'none' | 'all' | 'auto' | `uriPattern:${string}`;

/**
 * Every option name, and whether it needs a backend (`memcached`: `memcachedNodes`, `redisNodes`
 * or `peers`), or `peers` or `redisNodes` itself (`redis`). Typed over `keyof SessionOptions`,
 * so a new option does not compile until it is listed here (unknown names get a warning).
 */
const KNOWN_OPTIONS: Record<keyof SessionOptions, 'any' | 'memcached' | 'peers' | 'redis'> = {
  secret: 'any',
  name: 'any',
  key: 'any',
  cookie: 'any',
  genid: 'any',
  proxy: 'any',
  resave: 'any',
  rolling: 'any',
  saveUninitialized: 'any',
  store: 'any',
  unset: 'any',
  memcachedNodes: 'any',
  redisNodes: 'any',
  redisUsername: 'redis',
  redisPassword: 'redis',
  redisTls: 'redis',
  peers: 'any',
  self: 'peers',
  replication: 'peers',
  enabled: 'any',
  enableStatistics: 'any',
  logger: 'any',
  requestUriIgnorePattern: 'any',
  touchOnlyUriPattern: 'any',
  failoverNodes: 'memcached',
  sticky: 'memcached',
  operationTimeout: 'memcached',
  sessionBackupAsync: 'memcached',
  sessionBackupTimeout: 'memcached',
  sessionAttributeFilter: 'memcached',
  storageKeyPrefix: 'memcached',
  encryptSessions: 'memcached',
  acceptUnsealedSessions: 'memcached',
  username: 'memcached',
  password: 'memcached',
  route: 'memcached',
  maxInactiveInterval: 'memcached',
  maxLocalSessions: 'memcached',
  maxLocalBytes: 'memcached',
  itemSizeLimit: 'memcached',
  lockingMode: 'memcached',
  lockExpiration: 'memcached',
  lockFailure: 'memcached',
  requestDeadline: 'memcached',
  revocationCheckInterval: 'memcached',
  revocationCheckTimeout: 'memcached',
  principal: 'memcached',
};

/** Replication between app processes (`peers`). */
export interface PeerSettings {
  /** This process's id in `nodes`. */
  self: string;
  replication: 'backup' | 'all';
  /** The `secret` list: peer links are authenticated with keys derived from it. */
  secrets: SigningKey[];
}

/** Connections to Redis nodes (`redisNodes`). */
export interface RedisSettings {
  username?: string;
  password?: string;
  tls?: boolean | TlsOptions;
}

/** Validated MSM settings (present only when `memcachedNodes`, `redisNodes` or `peers` is given). */
export interface ManagerSettings {
  /** The memcached nodes, the Redis nodes, or with `peers` every peer (this process included). */
  nodes: NodeAddress[];
  /** Set when the nodes are `peers`. */
  peers?: PeerSettings;
  /** Set when the nodes are Redis nodes (`redisNodes`). */
  redis?: RedisSettings;
  failoverNodeIds: string[];
  sticky: boolean;
  operationTimeout: number;
  sessionBackupAsync: boolean;
  sessionBackupTimeout: number;
  sessionAttributeFilter?: RegExp;
  storageKeyPrefix: string;
  /** Names keys and seals values with keys derived from `secret`. */
  sealing: Sealing;
  acceptUnsealedSessions: boolean;
  username?: string;
  /** memcached SASL credentials. */
  password?: string;
  route?: string;
  maxInactiveInterval: number;
  maxLocalSessions: number;
  maxLocalBytes: number;
  itemSizeLimit: number;
  lockingMode: LockingMode;
  lockExpiration: number;
  lockFailOpen: boolean;
  requestDeadline: number;
  revocationCheckInterval: number;
  revocationCheckTimeout: number;
  /** See SessionOptions.principal; undefined when `false`. */
  principal?: PrincipalFunction;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Longest delay Node's timers accept (2^31-1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function positiveNumber(options: SessionOptions, name: keyof SessionOptions, fallback: number, max = Number.POSITIVE_INFINITY): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new OptionError(name, `must be a positive number, got ${describe(value)}`);
  }
  if (value > max) throw new OptionError(name, `must be at most ${max}, got ${describe(value)}`);
  return value;
}

function boolean(options: SessionOptions, name: keyof SessionOptions, fallback: boolean): boolean {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new OptionError(name, `must be true or false, got ${describe(value)}`);
  return value;
}

/** Compiles a pattern option; a bad regex is reported with the option's name. */
export function pattern(options: SessionOptions, name: keyof SessionOptions): RegExp | undefined {
  const value = options[name];
  if (value === undefined || value === '') return undefined;
  if (value instanceof RegExp) return value;
  if (typeof value !== 'string') throw new OptionError(name, `must be a regular expression or a string, got ${describe(value)}`);
  try {
    return new RegExp(value);
  } catch (err) {
    throw new OptionError(name, `is not a valid regular expression: ${(err as Error).message}`);
  }
}

// memcached keys: at most 250 bytes, no whitespace or control characters.
const KEY_SAFE = /^[\x21-\x7e]*$/;
const ROUTE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The signing secrets: required (a per-request failure would only show once traffic arrives).
 * Bytes are copied into a key, so changing the caller's buffer later changes nothing.
 */
export function resolveSecrets(options: SessionOptions): SigningKey[] {
  const value = options.secret;
  if (value === undefined || value === null || value === '') {
    throw new OptionError('secret', 'is required: a string or Buffer (or an array of them) used to sign the session cookie');
  }
  const secrets = Array.isArray(value) ? value : [value];
  if (secrets.length === 0) throw new OptionError('secret', 'is empty (secret option array must contain one or more strings)');
  return secrets.map((secret: unknown) => {
    if (typeof secret === 'string' && secret !== '') return secret;
    if (ArrayBuffer.isView(secret) && secret.byteLength > 0) return createSecretKey(new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength));
    if (secret instanceof KeyObject && secret.type === 'secret' && (secret.symmetricKeySize ?? 0) > 0) return secret;
    throw new OptionError('secret', `must be non-empty strings or Buffers, got ${describeSecret(secret)}`);
  });
}

/** Names what a rejected secret is without printing it (it may be a real secret of the wrong type). */
function describeSecret(value: unknown): string {
  if (value === '') return 'an empty string';
  if (ArrayBuffer.isView(value)) return `an empty ${value.constructor.name}`;
  if (value instanceof KeyObject) return `a ${value.type} KeyObject`;
  return typeof value === 'object' && value !== null ? 'an object' : String(value);
}

/** Two ids for one server would put a session's two copies on the same memcached. */
function rejectSharedAddresses(nodes: readonly NodeAddress[], option: string): void {
  const seen = new Map<string, string>();
  for (const node of nodes) {
    const address = `${node.host.toLowerCase()}:${node.port}`;
    const other = seen.get(address);
    if (other) throw new OptionError(option, `names ${address} twice (ids "${other}" and "${node.id}"); each node must be a different server`);
    seen.set(address, node.id);
  }
}

/**
 * Lifetimes beyond MAX_LIFETIME_SECONDS cannot be stored as asked: refused at startup when set in
 * the options (a per-request cookie.maxAge is capped instead).
 */
function rejectAbsurdLifetimes(maxInactiveInterval: number, cookie: SessionOptions['cookie']): void {
  if (maxInactiveInterval > MAX_LIFETIME_SECONDS) {
    throw new OptionError('maxInactiveInterval', `must be at most ${MAX_LIFETIME_SECONDS} seconds (10 years; 0 or less: never expires), got ${maxInactiveInterval}`);
  }
  const maxAge = typeof cookie === 'object' && cookie !== null ? cookie.maxAge : undefined;
  if (typeof maxAge === 'number' && maxAge > MAX_LIFETIME_SECONDS * 1000) {
    throw new OptionError('cookie.maxAge', `must be at most ${MAX_LIFETIME_SECONDS * 1000} ms (10 years), got ${maxAge}`);
  }
}

/**
 * `peers`, `self` and `replication`: the peer list parsed, and the settings that go with it.
 * Replication backs up a process's own sessions (sticky mode) with no shared store: options that
 * belong to memcached or to non-sticky mode are refused with it.
 */
function resolvePeers(options: SessionOptions): { nodes: NodeAddress[]; peers: PeerSettings } {
  for (const name of ['memcachedNodes', 'redisNodes', 'failoverNodes', 'username', 'password'] as const) {
    if (options[name] !== undefined) throw new OptionError(name, 'cannot be combined with "peers" (replication between app processes needs no memcached)');
  }
  if (options.sticky === false) throw new OptionError('sticky', 'must be true with "peers": replication between app processes backs up each process\'s own sessions');
  const nodes = parseNodeList(options.peers, 'peers');
  if (nodes.length < 2) throw new OptionError('peers', `must list at least two app processes (this one and a peer), got ${describe(options.peers)}`);
  rejectSharedAddresses(nodes, 'peers');
  const self = options.self;
  if (typeof self !== 'string' || !nodes.some((node) => node.id === self)) {
    throw new OptionError('self', `must name this process's entry in "peers" (one of ${nodes.map((node) => node.id).join(', ')}), got ${describe(self)}`);
  }
  const replication = options.replication ?? 'backup';
  if (replication !== 'backup' && replication !== 'all') {
    throw new OptionError('replication', `must be "backup" or "all", got ${describe(replication)}`);
  }
  return { nodes, peers: { self, replication, secrets: resolveSecrets(options) } };
}

/**
 * `redisNodes` and its options: the Redis nodes, and how to connect to them. memcached's SASL
 * options are refused with it (Redis has its own).
 */
function resolveRedis(options: SessionOptions): { nodes: NodeAddress[]; redis: RedisSettings } {
  if (options.memcachedNodes !== undefined) {
    throw new OptionError('redisNodes', 'cannot be combined with "memcachedNodes": sessions are kept in one backend; set one of them');
  }
  for (const name of ['username', 'password'] as const) {
    if (options[name] !== undefined) throw new OptionError(name, 'is memcached SASL; with "redisNodes" use redisUsername and redisPassword');
  }
  for (const name of ['redisUsername', 'redisPassword'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'string') throw new OptionError(name, 'must be a string');
  }
  if (options.redisUsername !== undefined && options.redisPassword === undefined) {
    throw new OptionError('redisPassword', 'must be given with redisUsername (Redis authenticates a user with its password)');
  }
  const tls = options.redisTls;
  if (tls !== undefined && typeof tls !== 'boolean' && (typeof tls !== 'object' || tls === null || Array.isArray(tls))) {
    throw new OptionError('redisTls', `must be true, false or an object of tls.connect options, got ${describe(tls)}`);
  }
  const nodes = parseNodeList(options.redisNodes, 'redisNodes');
  return { nodes, redis: { username: options.redisUsername, password: options.redisPassword, tls } };
}

/** Validates the MSM options; returns undefined when neither memcached, Redis nor peers are configured, or when disabled. */
export function resolveManagerSettings(options: SessionOptions): ManagerSettings | undefined {
  const enabled = boolean(options, 'enabled', true);
  boolean(options, 'enableStatistics', true);
  const backend = options.peers !== undefined ? 'peers' : options.redisNodes !== undefined ? 'redisNodes' : options.memcachedNodes !== undefined ? 'memcachedNodes' : undefined;
  for (const [name, scope] of Object.entries(KNOWN_OPTIONS)) {
    if (options[name as keyof SessionOptions] === undefined) continue;
    if (scope === 'memcached' && backend === undefined) {
      throw new OptionError(name, 'only applies with "memcachedNodes", "redisNodes" or "peers"; set one of them or remove it');
    }
    if (scope === 'peers' && backend !== 'peers') throw new OptionError(name, 'only applies with "peers"; set peers or remove it');
    if (scope === 'redis' && backend !== 'redisNodes') throw new OptionError(name, 'only applies with "redisNodes"; set redisNodes or remove it');
  }
  if (backend === undefined || !enabled) return undefined;
  if (options.store) {
    throw new OptionError('store', `cannot be combined with "${backend}": the session manager owns the store`);
  }
  const { nodes, peers, redis }: { nodes: NodeAddress[]; peers?: PeerSettings; redis?: RedisSettings } =
    backend === 'peers' ? resolvePeers(options) : backend === 'redisNodes' ? resolveRedis(options) : { nodes: parseNodeList(options.memcachedNodes) };
  if (nodes.length === 0) throw new OptionError(backend, `lists no node, got ${describe(options[backend])}`);
  if (!peers) rejectSharedAddresses(nodes, backend);
  const failoverNodeIds = parseFailoverNodes(options.failoverNodes, nodes, backend);
  const sticky = boolean(options, 'sticky', true);
  const storageKeyPrefix = options.storageKeyPrefix ?? '';
  if (typeof storageKeyPrefix !== 'string' || !KEY_SAFE.test(storageKeyPrefix) || storageKeyPrefix.length > 100) {
    throw new OptionError('storageKeyPrefix', 'must be at most 100 printable characters without spaces');
  }
  const route = options.route;
  if (route !== undefined) {
    if (typeof route !== 'string' || !ROUTE.test(route)) {
      throw new OptionError('route', `must be 1-64 letters, digits, "_" or "-", got ${describe(route)}`);
    }
    if (!sticky) {
      throw new OptionError('route', 'only makes sense with sticky load balancing; remove it or set sticky: true');
    }
  }
  const maxInactiveInterval = options.maxInactiveInterval ?? 1800;
  if (typeof maxInactiveInterval !== 'number' || !Number.isFinite(maxInactiveInterval)) {
    throw new OptionError('maxInactiveInterval', `must be a number of seconds, got ${describe(maxInactiveInterval)}`);
  }
  rejectAbsurdLifetimes(maxInactiveInterval, options.cookie);
  for (const name of ['username', 'password'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'string') {
      throw new OptionError(name, 'must be a string');
    }
  }
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new OptionError(options.username === undefined ? 'username' : 'password', 'must be given together with the other SASL credential');
  }
  const lockingMode = parseLockingMode(options.lockingMode);
  if (sticky && lockingMode.kind !== 'none') {
    throw new OptionError('lockingMode', 'only applies to non-sticky mode (sticky: false)');
  }
  const lockExpiration = positiveNumber(options, 'lockExpiration', 5);
  if (!Number.isInteger(lockExpiration) || lockExpiration < 2) {
    throw new OptionError('lockExpiration', 'must be a whole number of seconds, at least 2 (memcached expiry has 1 s granularity)');
  }
  const lockFailure = options.lockFailure ?? 'closed';
  if (lockFailure !== 'closed' && lockFailure !== 'open') {
    throw new OptionError('lockFailure', `must be "closed" or "open", got ${describe(lockFailure)}`);
  }
  const revocationCheckInterval = options.revocationCheckInterval === undefined ? 0 : options.revocationCheckInterval;
  if (typeof revocationCheckInterval !== 'number' || !(revocationCheckInterval >= 0 && revocationCheckInterval <= 2 ** 31 - 1)) {
    throw new OptionError('revocationCheckInterval', `must be a number of ms from 0 to 2147483647, got ${describe(revocationCheckInterval)}`);
  }
  const operationTimeout = positiveNumber(options, 'operationTimeout', 1000, MAX_TIMER_MS);
  const revocationCheckTimeout = positiveNumber(options, 'revocationCheckTimeout', Math.min(50, operationTimeout));
  if (revocationCheckTimeout > operationTimeout) {
    throw new OptionError('revocationCheckTimeout', `must be at most operationTimeout (${operationTimeout} ms), got ${revocationCheckTimeout}`);
  }
  if (options.revocationCheckTimeout !== undefined && !sticky) {
    throw new OptionError('revocationCheckTimeout', 'only applies to sticky mode (sticky: true)');
  }
  const requestDeadline = positiveNumber(options, 'requestDeadline', Math.min(2 * operationTimeout, MAX_TIMER_MS), MAX_TIMER_MS);
  if (requestDeadline < operationTimeout) {
    throw new OptionError('requestDeadline', `must be at least operationTimeout (${operationTimeout} ms): one memcached operation may take that long, got ${requestDeadline}`);
  }
  if (sticky && options.requestDeadline !== undefined) {
    throw new OptionError('requestDeadline', 'only applies to non-sticky mode (sticky: false): sticky requests are served from memory');
  }
  const maxLocalSessions = positiveNumber(options, 'maxLocalSessions', 100_000);
  if (!Number.isInteger(maxLocalSessions)) throw new OptionError('maxLocalSessions', 'must be a whole number');
  return {
    nodes,
    peers,
    redis,
    failoverNodeIds,
    sticky,
    operationTimeout,
    sessionBackupAsync: boolean(options, 'sessionBackupAsync', true),
    sessionBackupTimeout: positiveNumber(options, 'sessionBackupTimeout', 100, MAX_TIMER_MS),
    sessionAttributeFilter: pattern(options, 'sessionAttributeFilter'),
    storageKeyPrefix,
    sealing: new Sealing(resolveSecrets(options), storageKeyPrefix, boolean(options, 'encryptSessions', true)),
    acceptUnsealedSessions: boolean(options, 'acceptUnsealedSessions', false),
    username: options.username,
    password: options.password,
    route,
    maxInactiveInterval,
    maxLocalSessions,
    maxLocalBytes: positiveNumber(options, 'maxLocalBytes', Number.POSITIVE_INFINITY),
    itemSizeLimit: positiveNumber(options, 'itemSizeLimit', 1024 * 1024),
    lockingMode,
    lockExpiration,
    lockFailOpen: lockFailure === 'open',
    requestDeadline,
    revocationCheckInterval,
    revocationCheckTimeout,
    principal: principalOption(options.principal),
  };
}

/** The `principal` option: the default (passport's user), a function, or off. */
function principalOption(value: unknown): PrincipalFunction | undefined {
  if (value === undefined) return passportUser;
  if (value === false) return undefined;
  if (typeof value === 'function') return value as PrincipalFunction;
  throw new OptionError('principal', `must be a function of the session returning its user id (or undefined), or false, got ${describe(value)}`);
}

const SAME_SITE = new Set<unknown>([true, false, 'lax', 'strict', 'none', 'auto']);
const PRIORITY = new Set<unknown>(['low', 'medium', 'high']);
// The cookie library's rule: a domain name made of labels, optionally with a leading dot.
const DOMAIN = /^[.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const PATH = /^[\u0020-\u003A\u003D-\u007E]*$/;

/**
 * Checks cookie attributes the cookie serializer would otherwise reject on the first response
 * (no cookie sent) or that crash when a session is created. Named `cookie.<attribute>`.
 */
export function validateCookieOptions(cookie: unknown): void {
  if (cookie === undefined || typeof cookie === 'function') return;
  if (typeof cookie !== 'object' || cookie === null) throw new OptionError('cookie', `must be an object or a function, got ${describe(cookie)}`);
  const c = cookie as Record<string, unknown>;
  const fail = (attribute: string, reason: string) => {
    throw new OptionError(`cookie.${attribute}`, `${reason}, got ${describe(c[attribute])}`);
  };
  for (const attribute of ['maxAge', 'originalMaxAge'] as const) {
    const value = c[attribute];
    if (value != null && (typeof value !== 'number' || !Number.isFinite(value) || Number.isNaN(new Date(Date.now() + value).valueOf()))) {
      fail(attribute, 'must be a number of milliseconds (giving a valid date) or null');
    }
  }
  if (c.expires != null && !(c.expires instanceof Date && Number.isFinite(c.expires.valueOf()))) fail('expires', 'must be a valid Date');
  const sameSite = typeof c.sameSite === 'string' ? c.sameSite.toLowerCase() : c.sameSite;
  if (sameSite !== undefined && !SAME_SITE.has(sameSite)) fail('sameSite', 'must be true, false, "lax", "strict", "none" or "auto"');
  if (c.priority !== undefined && !PRIORITY.has(typeof c.priority === 'string' ? c.priority.toLowerCase() : c.priority)) {
    fail('priority', 'must be "low", "medium" or "high"');
  }
  if (c.secure !== undefined && typeof c.secure !== 'boolean' && c.secure !== 'auto') fail('secure', 'must be true, false or "auto"');
  for (const attribute of ['httpOnly', 'partitioned'] as const) {
    if (c[attribute] !== undefined && typeof c[attribute] !== 'boolean') fail(attribute, 'must be true or false');
  }
  if (c.domain !== undefined && (typeof c.domain !== 'string' || !DOMAIN.test(c.domain))) fail('domain', 'must be a domain name such as "example.com"');
  if (c.path !== undefined && (typeof c.path !== 'string' || !PATH.test(c.path))) fail('path', 'must be a path such as "/"');
}

/** Edit distance, for suggesting the known option a misspelt one was meant to be. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The known option closest to `name`, if it is close enough to be a likely typo. */
export function closestOption(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const known of Object.keys(KNOWN_OPTIONS)) {
    const d = distance(name.toLowerCase(), known.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Startup checks that do not stop the application, with express-session's wording where it
 * has one: unknown option names, unset `resave`/`saveUninitialized`, MemoryStore in production.
 */
export function warnAboutOptions(options: SessionOptions, logger: Logger): void {
  for (const name of Object.keys(options)) {
    if (name in KNOWN_OPTIONS) continue;
    const guess = closestOption(name);
    logEvent(
      logger,
      'warn',
      { event: 'unknown_option', option: name, suggestion: guess },
      `unknown option "${name}" is ignored${guess ? `; did you mean "${guess}"?` : ''}`,
    );
  }
  for (const name of ['resave', 'saveUninitialized'] as const) {
    if (options[name] === undefined) {
      logEvent(logger, 'warn', { event: 'deprecated_default', option: name }, `deprecated undefined ${name} option; provide ${name} option`);
    }
  }
  const memoryStore = options.memcachedNodes === undefined && options.redisNodes === undefined && options.peers === undefined && options.store === undefined;
  if (memoryStore && process.env.NODE_ENV === 'production') {
    logEvent(
      logger,
      'warn',
      { event: 'memory_store_in_production' },
      'Warning: connect.session() MemoryStore is not designed for a production environment, as it will leak memory, ' +
        'and will not scale past a single process. Set memcachedNodes to keep sessions in memcached.',
    );
  }
}
