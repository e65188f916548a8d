import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cookie, type CookieOptions } from './cookie.js';
import { Session, type SessionRequest } from './session.js';
import { MemoryStore } from './memory-store.js';
import type { Store, SessionData } from './store.js';
import type { LoadedSession, SessionMode } from './mode.js';
import { StoreMode } from './store-mode.js';
import { ModeStore } from './mode-store.js';
import { pattern, resolveManagerSettings, type SessionOptions } from './options.js';
import { Statistics, type StatisticsSnapshot, type TimingName } from './statistics.js';
import { consoleLogger, prefixed } from './logger.js';
import { beforeHeaders, holdEnd, isHookable } from './response-hooks.js';
import { readSessionId, writeSessionCookie } from './session-cookie.js';
import { requestPath } from './request-path.js';
import { hashSession } from '../memcached/session-codec.js';
import { MemcachedCluster } from '../failover/cluster.js';
import { StickyMode } from '../sticky/sticky-mode.js';
import { NonStickyMode } from '../nonsticky/nonsticky-mode.js';
import { withRoute } from '../sticky/route.js';

/** The middleware `session()` returns: `(req, res, next)`, plus operator controls. */
export interface SessionMiddleware {
  (req: IncomingMessage, res: ServerResponse | object, next: (err?: unknown) => void): void;
  /** Counters, gauges and latency percentiles. */
  statistics(): StatisticsSnapshot;
  /** Health of each memcached node (empty without `memcachedNodes`). */
  nodes(): Record<string, boolean>;
  /** Ids of the memcached nodes holding a session's copies (empty without `memcachedNodes`). */
  sessionNodes(sessionId: string): string[];
  /** Calls `listener` with every store-operation latency (ms), for exporters such as `sessionMetrics`. */
  onTiming(listener: (operation: TimingName, ms: number) => void): void;
  /** Flushes pending backups and closes memcached connections; sessions stay in memcached. */
  close(): Promise<void>;
}

/** Per-request bookkeeping for the save/touch/cookie decisions. */
interface RequestState {
  cookieId: string | undefined;
  originalId: string;
  originalHash: string;
  savedId?: string;
  savedHash?: string;
  touched: boolean;
  /** Storing the session failed (the error handler answers). */
  storeFailed?: boolean;
}

const STATE = Symbol('msm.requestState');
type StatefulRequest = SessionRequest & { [STATE]?: RequestState; originalUrl?: string; secure?: boolean };

/** Default id: 24 bytes from the CSPRNG (192 bits), base64url, as express-session. */
function generateSessionId(): string {
  return randomBytes(24).toString('base64url');
}

function isSecure(req: StatefulRequest, trustProxy: boolean | undefined): boolean {
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
  if (Array.isArray(opts.secret) && opts.secret.length === 0) {
    throw new TypeError('secret option array must contain one or more strings');
  }
  const secrets = opts.secret ? (Array.isArray(opts.secret) ? opts.secret : [opts.secret]) : undefined;
  const ignore = pattern(opts, 'requestUriIgnorePattern');
  const touchOnly = pattern(opts, 'touchOnlyUriPattern');
  const settings = resolveManagerSettings(opts);
  const stats = new Statistics(opts.enableStatistics !== false);
  const logger = prefixed(opts.logger ?? consoleLogger);

  let mode: SessionMode;
  let store: Store;
  let cluster: MemcachedCluster | undefined;
  if (settings) {
    cluster = new MemcachedCluster(settings, stats, logger);
    mode = settings.sticky
      ? new StickyMode(settings, cluster, stats, logger)
      : new NonStickyMode(settings, cluster, stats, logger);
    store = new ModeStore(mode);
  } else {
    store = opts.store ?? new MemoryStore();
    mode = new StoreMode(store);
  }
  const route = settings?.route;
  const newId = route ? (req: SessionRequest) => withRoute(genid(req), route) : genid;
  const staticCookie = typeof cookieOption === 'function' ? undefined : withDefaults(cookieOption);
  const cookieOptionsFor = (req: SessionRequest): CookieOptions =>
    staticCookie ?? withDefaults((cookieOption as (req: SessionRequest) => CookieOptions)(req));

  /** Wraps `save` and `reload` so the lifecycle knows what was saved explicitly. */
  function track(req: StatefulRequest, sess: Session): void {
    const state = req[STATE];
    if (!state) return;
    Object.defineProperty(sess, 'save', {
      configurable: true,
      enumerable: false,
      writable: true,
      value: function save(this: Session, fn?: (err?: unknown) => void) {
        state.savedId = this.id;
        state.savedHash = hashSession(this);
        return Session.prototype.save.call(this, fn);
      },
    });
    Object.defineProperty(sess, 'reload', {
      configurable: true,
      enumerable: false,
      writable: true,
      value: function reload(this: Session, fn: (err?: unknown) => void) {
        return Session.prototype.reload.call(this, (err) => {
          if (req.session && req.session !== this) track(req, req.session);
          fn(err);
        });
      },
    });
  }

  store.generate = function generate(req: StatefulRequest) {
    req.sessionID = newId(req);
    req.session = new Session(req);
    const cookieOptions = cookieOptionsFor(req);
    req.session.cookie = new Cookie(cookieOptions);
    const secure = isSecure(req, trustProxy);
    if (cookieOptions.secure === 'auto') req.session.cookie.secure = secure;
    if (cookieOptions.sameSite === 'auto') req.session.cookie.sameSite = secure ? 'none' : 'lax';
    // A session created by regenerate() is tracked too, so regenerate + save writes once.
    track(req, req.session);
  };

  let storeReady = true;
  store.on('disconnect', () => (storeReady = false));
  store.on('connect', () => (storeReady = true));

  const middleware = function session(req: StatefulRequest, res: ServerResponse | object, next: (err?: unknown) => void) {
    if (req.session) return next();
    if (!storeReady) return next();
    const path = requestPath(req);
    if (ignore?.test(path)) {
      stats.inc('requestsIgnored');
      return next();
    }
    if (!path.startsWith(cookieOptionsFor(req).path || '/')) return next();
    if (!secrets && !req.secret) return next(new Error('secret option required for sessions'));
    const secretList = secrets ?? [req.secret as string];

    req.sessionStore = store;
    const cookieId = readSessionId(req, name, secretList);
    if (touchOnly?.test(path)) {
      // Keep the session alive without loading it; such requests see no req.session.
      if (!cookieId || !mode.keepAlive) return next();
      // Best effort: a touch-only request never fails because memcached did.
      mode.keepAlive(cookieId).then(
        () => next(),
        () => next(),
      );
      return;
    }
    req.sessionID = cookieId;
    const state: RequestState = { cookieId, originalId: '', originalHash: '', touched: false };
    req[STATE] = state;
    stats.inc(cookieId ? 'requestsWithSession' : 'requestsWithoutSession');

    // While the response ends, the session cannot change: its hash is computed once for every check.
    let endHash: string | undefined;
    const hash = (sess: Session) => (sess === req.session && endHash) || hashSession(sess);
    const isModified = (sess: Session) => state.originalId !== sess.id || state.originalHash !== hash(sess);
    const isSaved = (sess: Session) => state.savedId === sess.id && state.savedHash === hash(sess);
    const hasId = () => typeof req.sessionID === 'string';
    const shouldSave = () =>
      hasId() &&
      (!saveUninitialized && !state.savedHash && cookieId !== req.sessionID ? isModified(req.session!) : !isSaved(req.session!));
    const shouldSetCookie = () =>
      hasId() &&
      (cookieId !== req.sessionID
        ? saveUninitialized || isModified(req.session!)
        : rolling || (req.session!.cookie.expires != null && isModified(req.session!)));
    const touchOnce = () => {
      if (!state.touched) {
        req.session!.touch();
        state.touched = true;
      }
    };

    const hookable = isHookable(res);
    if (hookable) {
      beforeHeaders(res, () => {
        // A session that could not be stored gets no cookie for its new id: it would name nothing.
        if (!req.session || (state.storeFailed && cookieId !== req.sessionID) || !shouldSetCookie()) return;
        if (req.session.cookie.secure && !isSecure(req, trustProxy)) return;
        touchOnce();
        try {
          writeSessionCookie(res, name, req.sessionID!, secretList[0], req.session.cookie.data);
        } catch (err) {
          setImmediate(next, err);
        }
      });
      /** What the response waits for before it completes: storing the session. */
      const store = (): Promise<void> | void => {
        if (req.sessionID && unsetDestroy && req.session == null) return mode.destroy(req.sessionID);
        if (!req.session) return undefined;
        touchOnce();
        const sess = req.session;
        endHash = hashSession(sess);
        if (shouldSave()) {
          state.savedId = sess.id;
          state.savedHash = endHash;
          return mode.save(sess.id, sess);
        }
        if (mode.touches && hasId() && cookieId === req.sessionID) return mode.touch(req.sessionID!, sess);
        return undefined;
      };
      holdEnd(
        res,
        () => {
          let stored: Promise<void> | void;
          try {
            stored = store();
          } catch (err) {
            stored = Promise.reject(err);
          }
          // Then locks are released, still before the response completes.
          if (!mode.releaseLocks) return stored ?? undefined;
          return stored ? stored.finally(() => mode.releaseLocks!(req)) : mode.releaseLocks(req);
        },
        (err) => {
          state.storeFailed = true;
          next(err);
        },
        () => (endHash = undefined),
      );
      if (mode.finish) {
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          if (req.sessionID) mode.finish!(req.sessionID, req);
        };
        res.once('finish', finish);
        res.once('close', finish);
      }
    }

    const begin = (loaded: LoadedSession | undefined) => {
      if (loaded) {
        req.sessionID = loaded.id;
        store.createSession(req, loaded.data as SessionData);
        // A session moved to a new id (takeover) counts as modified, so it is saved and its cookie re-sent.
        state.originalId = cookieId!;
        state.originalHash = hash(req.session!);
        if (!resave && loaded.id === cookieId) {
          state.savedId = loaded.id;
          state.savedHash = state.originalHash;
        }
        track(req, req.session!);
      } else {
        store.generate(req);
        state.originalId = req.sessionID!;
        state.originalHash = hash(req.session!);
      }
    };

    if (!cookieId) {
      begin(undefined);
      return next();
    }
    mode.load(cookieId, req).then(
      (loaded) => {
        try {
          begin(loaded);
        } catch (err) {
          return next(err);
        }
        // Without a response to watch (socket.io), the request's hold on the session ends now.
        if (!hookable) mode.finish?.(cookieId, req);
        next();
      },
      (err: unknown) => next(err),
    );
  } as unknown as SessionMiddleware;

  middleware.statistics = () => stats.snapshot();
  middleware.nodes = () => cluster?.nodeStates() ?? {};
  middleware.sessionNodes = (sessionId: string) => mode.copiesOf?.(sessionId) ?? [];
  middleware.onTiming = (listener) => stats.onTiming(listener);
  middleware.close = () => mode.close();
  return middleware;
}
