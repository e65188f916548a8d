import type { ServerResponse } from 'node:http';
import type { CookieOptions } from '../session/cookie.js';
import type { SessionRequest } from '../session/session.js';
import type { Store } from '../session/store.js';
import type { SessionMode } from '../modes/session-mode.js';
import type { Statistics } from '../base/statistics.js';
import { SessionStoreUnavailableError } from '../base/errors.js';
import { requestPath } from '../base/request-path.js';
import { loadTrace, traced } from '../base/tracing.js';
import { hookResponse, isHookable } from './response-hooks.js';
import { RequestLifecycle, type LifecycleRequest, type LifecycleSettings } from './request-lifecycle.js';
import { readSessionId, type Unsign } from './session-cookie.js';

/** What the per-request handler needs, resolved once from the options. */
export interface RequestHandlerSettings {
  /** The cookie's name. */
  name: string;
  mode: SessionMode;
  store: Store;
  stats: Statistics;
  lifecycle: LifecycleSettings;
  unsignCookie: Unsign;
  cookieOptionsFor(req: SessionRequest): CookieOptions;
  /** requestUriIgnorePattern: such requests get no session. */
  ignore?: RegExp;
  /** touchOnlyUriPattern: such requests keep their session alive without loading it. */
  touchOnly?: RegExp;
  /** The storage's refusal of this app's credentials, while it lasts. */
  credentialsRefused(): Error | undefined;
  /** False while an express-session store reports itself disconnected. */
  storeReady(): boolean;
}

/** The middleware function: `(req, res, next)` for one request. */
export type RequestHandler = (req: LifecycleRequest, res: ServerResponse | object, next: (err?: unknown) => void) => void;

/** The per-request work of the middleware: checks the cookie, hooks the response and loads the session. */
export function createRequestHandler(settings: RequestHandlerSettings): RequestHandler {
  const { name, mode, store, stats, ignore, touchOnly, unsignCookie } = settings;

  return function session(req, res, next) {
    if (req.session) return next();
    if (!settings.storeReady()) return next();
    const path = requestPath(req);
    if (ignore?.test(path)) {
      stats.inc('requestsIgnored');
      return next();
    }
    if (!path.startsWith(settings.cookieOptionsFor(req).path || '/')) return next();
    const refused = settings.credentialsRefused();
    if (refused) return next(new SessionStoreUnavailableError('the session store refused the credentials', refused));

    const hooked = isHookable(res) ? res : undefined;
    req.sessionStore = store;
    const cookieId = readSessionId(req, name, unsignCookie);
    if (touchOnly?.test(path)) {
      // Keep the session alive without loading it; such requests see no req.session.
      if (!cookieId || !mode.keepAlive) return next();
      // Best effort: a touch-only request never fails because the store did.
      mode.keepAlive(cookieId).then(
        () => next(),
        () => next(),
      );
      return;
    }
    stats.inc(cookieId ? 'requestsWithSession' : 'requestsWithoutSession');
    const lifecycle = new RequestLifecycle(settings.lifecycle, req, hooked, next, cookieId);
    if (hooked) hookResponse(hooked, lifecycle, mode.finish !== undefined);

    if (!cookieId) {
      lifecycle.begin(undefined);
      return next();
    }
    let loading: ReturnType<SessionMode['load']>;
    try {
      loading = loadTrace.hasSubscribers ? traced(loadTrace, { req }, () => mode.load(cookieId, req)) : mode.load(cookieId, req);
    } catch (err) {
      return next(err);
    }
    // A session the mode holds in memory is served in this turn, without a promise.
    if (loading instanceof Promise) {
      loading.then(
        (loaded) => lifecycle.loaded(loaded),
        (err: unknown) => next(err),
      );
    } else lifecycle.loaded(loading);
  };
}
