import type { CookieOptions } from './cookie.js';
import type { Logger } from './logger.js';
import type { SessionRequest } from './session.js';
import type { Store } from './store.js';
import { parseNodeList, parseFailoverNodes, type MemcachedNodeAddress } from '../failover/node-list.js';
import { parseLockingMode, type LockingMode } from '../nonsticky/locking-policy.js';

/** Options of the `session()` factory: express-session's, plus MSM's. */
export interface SessionOptions {
  // express-session options
  /** Secret(s) used to sign the cookie; the first signs, all verify. Required. */
  secret?: string | string[];
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
  /** An express-session store. Not allowed together with `memcachedNodes`. */
  store?: Store;
  /** What happens when `req.session` is deleted or set to null. Default `keep`. */
  unset?: 'destroy' | 'keep';

  // memcached-session-manager options
  /** `"n1:host:port,n2:host:port"`. When set, the manager owns the store (MSM mode). */
  memcachedNodes?: string;
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
  lockingMode?: string;
  /** Non-sticky mode: lock lifetime in memcached, in seconds (renewed while held). Default 5. */
  lockExpiration?: number;
  /** Non-sticky mode: when a lock cannot be had within `operationTimeout`: `closed` (503, default) or `open` (run unlocked). */
  lockFailure?: 'closed' | 'open';
  /**
   * Sticky mode: how long (ms) a session held in memory is served without checking memcached for
   * its revocation (destroy, regenerate or takeover on another node). Default 0: checked on every request.
   */
  revocationCheckInterval?: number;
}

/** Validated MSM settings (present only when `memcachedNodes` is given). */
export interface ManagerSettings {
  nodes: MemcachedNodeAddress[];
  failoverNodeIds: string[];
  sticky: boolean;
  operationTimeout: number;
  sessionBackupAsync: boolean;
  sessionBackupTimeout: number;
  sessionAttributeFilter?: RegExp;
  storageKeyPrefix: string;
  username?: string;
  password?: string;
  route?: string;
  maxInactiveInterval: number;
  maxLocalSessions: number;
  maxLocalBytes: number;
  itemSizeLimit: number;
  lockingMode: LockingMode;
  lockExpiration: number;
  lockFailOpen: boolean;
  revocationCheckInterval: number;
}

/** Thrown at startup for an invalid option; the message names the option. */
export class OptionError extends TypeError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`memcached-session-manager: option "${option}" ${reason}`);
    this.name = 'OptionError';
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function positiveNumber(options: SessionOptions, name: keyof SessionOptions, fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(name, `must be a positive number, got ${describe(value)}`);
  }
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

/** Validates the MSM options; returns undefined when memcached is not configured or disabled. */
export function resolveManagerSettings(options: SessionOptions): ManagerSettings | undefined {
  const enabled = boolean(options, 'enabled', true);
  boolean(options, 'enableStatistics', true);
  if (options.memcachedNodes === undefined || !enabled) return undefined;
  if (options.store) {
    throw new OptionError('store', 'cannot be combined with "memcachedNodes": the session manager owns the store');
  }
  const nodes = parseNodeList(options.memcachedNodes);
  const failoverNodeIds = parseFailoverNodes(options.failoverNodes, nodes);
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
  const maxLocalSessions = positiveNumber(options, 'maxLocalSessions', 100_000);
  if (!Number.isInteger(maxLocalSessions)) throw new OptionError('maxLocalSessions', 'must be a whole number');
  return {
    nodes,
    failoverNodeIds,
    sticky,
    operationTimeout: positiveNumber(options, 'operationTimeout', 1000),
    sessionBackupAsync: boolean(options, 'sessionBackupAsync', true),
    sessionBackupTimeout: positiveNumber(options, 'sessionBackupTimeout', 100),
    sessionAttributeFilter: pattern(options, 'sessionAttributeFilter'),
    storageKeyPrefix,
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
    revocationCheckInterval,
  };
}
