import { randomToken } from './base/random-token.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cookie, type CookieOptions } from './session/cookie.js';
import { Session, type SessionRequest } from './session/session.js';
import { MemoryStore } from './session/memory-store.js';
import type { Store } from './session/store.js';
import type { SessionMode } from './modes/session-mode.js';
import { StoreBackedMode } from './modes/store-backed-mode.js';
import { ModeBackedStore } from './request/mode-backed-store.js';
import { pattern, resolveManagerSettings, resolveSecrets, validateCookieOptions, warnAboutOptions, type SessionOptions } from './options.js';
import { Statistics, type StatisticsSnapshot, type TimingName } from './base/statistics.js';
import { consoleLogger, prefixed } from './base/logger.js';
import type { LifecycleRequest, LifecycleSettings } from './request/request-lifecycle.js';
import type { Unsign } from './request/session-cookie.js';
import { SignedValues, VerifiedCookies } from './request/signature.js';
import { createRequestHandler } from './request/request-handler.js';
import type { StorageCluster } from './failover/cluster.js';
import { storageFor } from './backend.js';
import { StickyMode } from './modes/sticky/sticky-mode.js';
import { NonStickyMode } from './modes/nonsticky/nonsticky-mode.js';
import { withRoute } from './modes/sticky/route.js';
import type { UserSession, UserSessions } from './revocation/user-sessions.js';

/** The mode's sessions by principal, after checking the principal: rejects when there are none. */
async function withPrincipal<T>(mode: SessionMode, principal: unknown, use: (users: UserSessions, principal: string) => Promise<T>): Promise<T> {
  if (typeof principal !== 'string' || principal === '') throw new TypeError(`memcached-session-manager: a principal must be a non-empty string, got ${typeof principal}`);
  if (mode instanceof StoreBackedMode) throw new Error('memcached-session-manager: sessionsOf and revokeSessionsOf need memcachedNodes');
  if (!mode.users) throw new Error('memcached-session-manager: sessions are not recorded by principal (option "principal" is false)');
  return use(mode.users, principal);
}

/** The middleware `session()` returns: `(req, res, next)`, plus operator controls. */
export interface SessionMiddleware {
  (req: IncomingMessage, res: ServerResponse | object, next: (err?: unknown) => void): void;
  /** Counters, gauges and latency percentiles. */
  statistics(): StatisticsSnapshot;
  /** Health of each storage node: memcached nodes, or with `peers` every app process (empty without either). */
  nodes(): Record<string, boolean>;
  /** Ids of the storage nodes holding a session's copies (empty without `memcachedNodes` or `peers`). */
  sessionNodes(sessionId: string): string[];
  /** Calls `listener` with every store-operation latency (ms), for exporters such as `sessionMetrics`. */
  onTiming(listener: (operation: TimingName, ms: number) => void): void;
  /**
   * The live sessions of `principal` (see the `principal` option), each with a handle that is not
   * a session id, when it was created (the login), last stored, and the route of the app node
   * that serves it. Rejects with SessionStoreUnavailableError when the user's index cannot be read
   * from a majority of its memcached nodes. Needs `memcachedNodes`.
   */
  sessionsOf(principal: string): Promise<UserSession[]>;
  /**
   * Logs `principal` out everywhere: revokes every session recorded for it, except `except` (a
   * session id, typically `req.sessionID`), as `destroy` revokes one (sticky mode: refused by every
   * app node from its next request on; non-sticky: from the next load). Resolves with the number
   * of live sessions revoked, once every revocation is stored; rejects with
   * SessionStoreUnavailableError (nothing acknowledged, retry) when the index or a revocation
   * could not be stored. Needs `memcachedNodes`.
   */
  revokeSessionsOf(principal: string, options?: { except?: string }): Promise<number>;
  /**
   * Resolves once this process is ready to serve: with `peers`, once its peer endpoint listens
   * and, with `replication: 'all'`, once it holds a copy of every session a peer had (pulled from
   * two peers as it starts: each lacks the sessions it owns itself; at once when no peer holds any,
   * as for the first process of a cluster).
   * Rejects when the peer endpoint cannot listen on its address. Resolves at once with memcached,
   * Redis or an express-session store. Wait for it before reporting the process healthy to the
   * load balancer, so a restarted process takes no users before it holds their sessions.
   */
  ready(): Promise<void>;
  /** Flushes pending backups and closes memcached connections; sessions stay in memcached. */
  close(): Promise<void>;
}

/** Default id: 24 bytes from the CSPRNG (192 bits), base64url, as express-session. */
function generateSessionId(): string {
  return randomToken(24);
}

function isSecure(req: LifecycleRequest, trustProxy: boolean | undefined): boolean {
  if ((req.socket as { encrypted?: boolean } | undefined)?.encrypted) return true;
  if (trustProxy === false) return false;
  if (trustProxy !== true) return req.secure === true;
  const header = String(req.headers['x-forwarded-proto'] ?? '');
  return header.split(',')[0].trim().toLowerCase() === 'https';
}

/** Security default: SameSite=Lax unless the application chose a SameSite value. */
function withDefaults(options: CookieOptions): CookieOptions {
  return 'sameSite' in options ? options : { ...options, sameSite: 'lax' };
}

/** Creates the session middleware (see SessionOptions). */
export function createSessionMiddleware(options?: SessionOptions): SessionMiddleware {
  const opts = options ?? {};
  const cookieOption = opts.cookie ?? {};
  const genid = opts.genid ?? generateSessionId;
  const name = opts.name || opts.key || 'connect.sid';
  const trustProxy = opts.proxy;
  const rolling = Boolean(opts.rolling);
  if (typeof genid !== 'function') throw new TypeError('genid option must be a function');
  // Same defaults as express-session (which warns that they will change).
  const resave = opts.resave ?? true;
  const saveUninitialized = opts.saveUninitialized ?? true;
  if (opts.unset && opts.unset !== 'destroy' && opts.unset !== 'keep') {
    throw new TypeError('unset option must be "destroy" or "keep"');
  }
  const unsetDestroy = opts.unset === 'destroy';
  const secretList = resolveSecrets(opts);
  validateCookieOptions(cookieOption);
  const verifiedCookies = new VerifiedCookies(secretList);
  const unsignCookie: Unsign = (signed) => verifiedCookies.unsign(signed);
  const signedIds = new SignedValues(secretList[0]);
  const ignore = pattern(opts, 'requestUriIgnorePattern');
  const touchOnly = pattern(opts, 'touchOnlyUriPattern');
  const settings = resolveManagerSettings(opts);
  const stats = new Statistics(opts.enableStatistics !== false);
  const logger = prefixed(opts.logger ?? consoleLogger);
  warnAboutOptions(opts, logger);

  let mode: SessionMode;
  let store: Store;
  let cluster: StorageCluster | undefined;
  let ready = Promise.resolve();
  if (settings) {
    ({ cluster, ready } = storageFor(settings, stats, logger));
    mode = settings.sticky
      ? new StickyMode(settings, cluster, stats, logger)
      : new NonStickyMode(settings, cluster, stats, logger);
    store = new ModeBackedStore(mode);
  } else {
    store = (opts.store as Store | undefined) ?? new MemoryStore();
    mode = new StoreBackedMode(store);
  }
  const route = settings?.route;
  const newId = route ? (req: SessionRequest) => withRoute(genid(req), route) : genid;
  const staticCookie = typeof cookieOption === 'function' ? undefined : withDefaults(cookieOption);
  const cookieOptionsFor = (req: SessionRequest): CookieOptions =>
    staticCookie ?? withDefaults((cookieOption as (req: SessionRequest) => CookieOptions)(req));

  const lifecycleSettings: LifecycleSettings = {
    name,
    mode,
    store,
    signedIds,
    resave,
    saveUninitialized,
    rolling,
    unsetDestroy,
    isSecure: (req) => isSecure(req, trustProxy),
  };

  store.generate = function generate(req: LifecycleRequest) {
    req.sessionID = newId(req);
    req.session = new Session(req);
    const cookieOptions = cookieOptionsFor(req);
    req.session.cookie = new Cookie(cookieOptions);
    const secure = isSecure(req, trustProxy);
    if (cookieOptions.secure === 'auto') req.session.cookie.secure = secure;
    if (cookieOptions.sameSite === 'auto') req.session.cookie.sameSite = secure ? 'none' : 'lax';
  };

  let storeReady = true;
  store.on('disconnect', () => (storeReady = false));
  store.on('connect', () => (storeReady = true));

  const middleware = createRequestHandler({
    name,
    mode,
    store,
    stats,
    lifecycle: lifecycleSettings,
    unsignCookie,
    cookieOptionsFor,
    ignore,
    touchOnly,
    credentialsRefused: () => cluster?.credentialsRefused(),
    storeReady: () => storeReady,
  }) as SessionMiddleware;

  middleware.statistics = () => stats.snapshot();
  middleware.nodes = () => cluster?.nodeStates() ?? {};
  middleware.sessionNodes = (sessionId: string) => mode.copiesOf?.(sessionId) ?? [];
  middleware.onTiming = (listener) => stats.onTiming(listener);
  middleware.sessionsOf = (principal) => withPrincipal(mode, principal, (users, p) => users.list(p));
  middleware.revokeSessionsOf = (principal, revokeOptions) =>
    withPrincipal(mode, principal, (users, p) => {
      const except = revokeOptions?.except;
      if (except !== undefined && typeof except !== 'string') throw new TypeError('memcached-session-manager: revokeSessionsOf\'s "except" must be a session id (a string)');
      return users.revoke(p, except);
    });
  middleware.ready = () => ready;
  middleware.close = () => mode.close();
  return middleware;
}
