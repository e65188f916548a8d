import { randomToken } from './random-token.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cookie, type CookieOptions } from './cookie.js';
import { SAVE_LISTENER, Session, type SessionRequest } from './session.js';
import { MemoryStore } from './memory-store.js';
import type { Store, SessionData } from './store.js';
import type { LoadedSession, SessionMode } from './mode.js';
import { StoreMode } from './store-mode.js';
import { ModeStore } from './mode-store.js';
import { pattern, resolveManagerSettings, resolveSecrets, validateCookieOptions, warnAboutOptions, type SessionOptions } from './options.js';
import { Statistics, type StatisticsSnapshot, type TimingName } from './statistics.js';
import { consoleLogger, prefixed } from './logger.js';
import { beforeHeaders, holdEnd, isHookable } from './response-hooks.js';
import { readSessionId, writeSessionCookie, type Unsign } from './session-cookie.js';
import { SignedValues, VerifiedCookies } from './signature.js';
import { stageEnd, stageStart } from './stage-timer.js';
import { requestPath } from './request-path.js';
import { attributesJson } from '../memcached/session-codec.js';
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

/**
 * Per-request bookkeeping for the save/touch/cookie decisions. Sessions are compared by their
 * attributes' JSON (string equality is cheaper than hashing it, and the load often knows it already).
 */
interface RequestState {
  cookieId: string | undefined;
  originalId: string;
  originalJson: string;
  savedId?: string;
  savedJson?: string;
  touched: boolean;
  /** Storing the session failed (the error handler answers). */
  storeFailed?: boolean;
}

const STATE = Symbol('msm.requestState');
type StatefulRequest = SessionRequest & { [STATE]?: RequestState; originalUrl?: string; secure?: boolean };

/** Default id: 24 bytes from the CSPRNG (192 bits), base64url, as express-session. */
function generateSessionId(): string {
  return randomToken(24);
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
  let cluster: MemcachedCluster | undefined;
  if (settings) {
    cluster = new MemcachedCluster(settings, stats, logger);
    mode = settings.sticky
      ? new StickyMode(settings, cluster, stats, logger)
      : new NonStickyMode(settings, cluster, stats, logger);
    store = new ModeStore(mode);
  } else {
    store = (opts.store as Store | undefined) ?? new MemoryStore();
    mode = new StoreMode(store);
  }
  const route = settings?.route;
  const newId = route ? (req: SessionRequest) => withRoute(genid(req), route) : genid;
  const staticCookie = typeof cookieOption === 'function' ? undefined : withDefaults(cookieOption);
  const cookieOptionsFor = (req: SessionRequest): CookieOptions =>
    staticCookie ?? withDefaults((cookieOption as (req: SessionRequest) => CookieOptions)(req));

  store.generate = function generate(req: StatefulRequest) {
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

  const middleware = function session(req: StatefulRequest, res: ServerResponse | object, next: (err?: unknown) => void) {
    if (req.session) return next();
    if (!storeReady) return next();
    const path = requestPath(req);
    if (ignore?.test(path)) {
      stats.inc('requestsIgnored');
      return next();
    }
    if (!path.startsWith(cookieOptionsFor(req).path || '/')) return next();

    req.sessionStore = store;
    let started = stageStart();
    const cookieId = readSessionId(req, name, unsignCookie);
    stageEnd('cookie verify', started);
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
    const state: RequestState = { cookieId, originalId: '', originalJson: '', touched: false };
    req[STATE] = state;
    // Explicit saves (also of a session made by regenerate or reload) are recorded, so they are not repeated at the end.
    req[SAVE_LISTENER] = (sess) => {
      state.savedId = sess.id;
      state.savedJson = json(sess);
    };
    stats.inc(cookieId ? 'requestsWithSession' : 'requestsWithoutSession');

    // While the response ends, the session cannot change: its JSON is computed once for every check.
    let endJson: string | undefined;
    const json = (sess: Session) => (sess === req.session && endJson) || attributesJson(sess);
    const isModified = (sess: Session) => state.originalId !== sess.id || state.originalJson !== json(sess);
    const isSaved = (sess: Session) => state.savedId === sess.id && state.savedJson === json(sess);
    const hasId = () => typeof req.sessionID === 'string';
    const shouldSave = () =>
      hasId() &&
      (!saveUninitialized && state.savedJson === undefined && cookieId !== req.sessionID ? isModified(req.session!) : !isSaved(req.session!));
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

    started = stageStart();
    const hookable = isHookable(res);
    if (hookable) {
      beforeHeaders(res, () => {
        // A session that could not be stored gets no cookie for its new id: it would name nothing.
        if (!req.session || (state.storeFailed && cookieId !== req.sessionID) || !shouldSetCookie()) return;
        if (req.session.cookie.secure && !isSecure(req, trustProxy)) return;
        touchOnce();
        const started = stageStart();
        try {
          writeSessionCookie(res, name, signedIds.sign(req.sessionID!), req.session.cookie.data);
        } catch (err) {
          setImmediate(next, err);
        }
        stageEnd('cookie write', started);
      });
      /** What the response waits for before it completes: storing the session. */
      const store = (): Promise<void> | void => {
        if (req.sessionID && unsetDestroy && req.session == null) return mode.destroy(req.sessionID);
        if (!req.session) return undefined;
        touchOnce();
        const sess = req.session;
        let started = stageStart();
        endJson = attributesJson(sess);
        const save = shouldSave();
        stageEnd('change detection', started);
        started = stageStart();
        try {
          if (save) {
            state.savedId = sess.id;
            state.savedJson = endJson;
            return mode.save(sess.id, sess, endJson);
          }
          // As express-session: a failed touch does not fail the response; it is reported after it.
          if (mode.touches && hasId() && cookieId === req.sessionID) {
            return mode.touch(req.sessionID!, sess)?.catch((err: unknown) => void setImmediate(next, err));
          }
          return undefined;
        } finally {
          stageEnd('save/touch call', started);
        }
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
        () => (endJson = undefined),
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
    stageEnd('response hooks', started);

    const begin = (loaded: LoadedSession | undefined) => {
      const started = stageStart();
      if (loaded) {
        req.sessionID = loaded.id;
        store.createSession(req, loaded.data as SessionData);
        // A session moved to a new id (takeover) counts as modified, so it is saved and its cookie re-sent.
        state.originalId = cookieId!;
        state.originalJson = loaded.json ?? json(req.session!);
        if (!resave && loaded.id === cookieId) {
          state.savedId = loaded.id;
          state.savedJson = state.originalJson;
        }
      } else {
        store.generate(req);
        state.originalId = req.sessionID!;
        state.originalJson = json(req.session!);
      }
      stageEnd('session objects', started);
    };
    const loadedThen = (loaded: LoadedSession | undefined) => {
      try {
        begin(loaded);
      } catch (err) {
        return next(err);
      }
      // Without a response to watch (socket.io), the request's hold on the session ends now.
      if (!hookable) mode.finish?.(cookieId!, req);
      next();
    };

    if (!cookieId) {
      begin(undefined);
      return next();
    }
    started = stageStart();
    let loading: ReturnType<SessionMode['load']>;
    try {
      loading = mode.load(cookieId, req);
    } catch (err) {
      return next(err);
    }
    stageEnd('load', started);
    // A session the mode holds in memory is served in this turn, without a promise.
    if (loading instanceof Promise) loading.then(loadedThen, (err: unknown) => next(err));
    else loadedThen(loading);
  } as unknown as SessionMiddleware;

  middleware.statistics = () => stats.snapshot();
  middleware.nodes = () => cluster?.nodeStates() ?? {};
  middleware.sessionNodes = (sessionId: string) => mode.copiesOf?.(sessionId) ?? [];
  middleware.onTiming = (listener) => stats.onTiming(listener);
  middleware.close = () => mode.close();
  return middleware;
}
