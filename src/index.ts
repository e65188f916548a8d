/**
 * memcached-session-manager: a drop-in replacement for express-session that keeps sessions
 * across a cluster with memcached (MSM's sticky and non-sticky modes, with failover).
 *
 * @example
 * ```js
 * import session from 'memcached-session-manager';
 * app.use(session({ secret: 'keyboard cat', resave: false, saveUninitialized: false,
 *                   memcachedNodes: 'n1:127.0.0.1:11211,n2:127.0.0.1:11212' }));
 * ```
 */
// express-session's types type `req.session` on Express's Request and hold the `SessionData`
// interface applications augment; this package's types build on them. They are an optional peer
// dependency (@types/express-session): TypeScript applications install them, JavaScript ones need not.
/// <reference types="express-session" />
import type * as expressSession from 'express-session';
import type { IncomingMessage } from 'node:http';
import { createSessionMiddleware, type SessionMiddleware as Middleware } from './session-manager.js';
import type { SessionOptions as Options, LockingModeOption as Locking } from './options.js';
import { OptionError as OptionErrorClass } from './base/errors.js';
import { Store as StoreClass } from './session/store.js';
import { MemoryStore as MemoryStoreClass } from './session/memory-store.js';
import { Session as SessionClass } from './session/session.js';
import { Cookie as CookieClass } from './session/cookie.js';
import * as errors from './base/errors.js';
import { SessionTooLargeError as TooLarge } from './format/session-codec.js';
import { sessionMetrics as metrics } from './metrics/prometheus.js';
import { TRACE_CHANNELS } from './base/tracing.js';
import type { UserSession as UserSessionRecord } from './revocation/user-sessions.js';

/** Creates the session middleware; same signature and options as express-session's factory. */
function session(options?: Options): Middleware {
  return createSessionMiddleware(options);
}

/**
 * express-session's exports (`session.Store`, `session.MemoryStore`, …) and this package's,
 * as values and as types, so `session.Store` and `session.SessionOptions` work in type positions
 * as with `@types/express-session`, from ESM and from `require()`.
 */
namespace session {
  export const Store = StoreClass;
  export type Store = StoreClass;
  export const MemoryStore = MemoryStoreClass;
  export type MemoryStore = MemoryStoreClass;
  export const Session = SessionClass;
  export type Session = SessionClass;
  export const Cookie = CookieClass;
  export type Cookie = CookieClass;
  export const OptionError = OptionErrorClass;
  export type OptionError = OptionErrorClass;
  export const SessionStoreUnavailableError = errors.SessionStoreUnavailableError;
  export type SessionStoreUnavailableError = errors.SessionStoreUnavailableError;
  export const SessionLockTimeoutError = errors.SessionLockTimeoutError;
  export type SessionLockTimeoutError = errors.SessionLockTimeoutError;
  export const SessionConflictError = errors.SessionConflictError;
  export type SessionConflictError = errors.SessionConflictError;
  export const SessionTooLargeError = TooLarge;
  export type SessionTooLargeError = TooLarge;
  export const sessionMetrics = metrics;
  /** Names of the `node:diagnostics_channel` tracing channels the package publishes on (load, save, storage). */
  export const traceChannels = TRACE_CHANNELS;
  export type SessionOptions = Options;
  export type SessionMiddleware = Middleware;
  /** One of a user's sessions, as `sessionsOf` lists it. */
  export type UserSession = UserSessionRecord;
  export type LockingModeOption = Locking;
  /** The interface applications augment with `declare module 'express-session' { interface SessionData { … } }`. */
  export type SessionData = expressSession.SessionData;
  export type CookieOptions = expressSession.CookieOptions;
  /**
   * Node's request once the middleware ran, with `session` and `sessionID` typed as express-session
   * types them on Express's Request: for handlers that see Node's request, such as Fastify's
   * `request.raw` (`Fastify<Server, SessionIncomingMessage>()` types it in every route).
   */
  export interface SessionIncomingMessage extends IncomingMessage {
    session: expressSession.Session & Partial<expressSession.SessionData>;
    sessionID: string;
  }
}

export default session;
export { session };
export const { Store, MemoryStore, Session, Cookie, OptionError, SessionStoreUnavailableError, SessionLockTimeoutError, SessionConflictError, SessionTooLargeError, sessionMetrics, traceChannels } = session;
export type Store = StoreClass;
export type MemoryStore = MemoryStoreClass;
export type Session = SessionClass;
export type Cookie = CookieClass;
export type OptionError = OptionErrorClass;
export type SessionStoreUnavailableError = errors.SessionStoreUnavailableError;
export type SessionLockTimeoutError = errors.SessionLockTimeoutError;
export type SessionConflictError = errors.SessionConflictError;
export type SessionTooLargeError = TooLarge;
export type SessionIncomingMessage = session.SessionIncomingMessage;
export type { SessionOptions, LockingModeOption } from './options.js';
export type { SessionMiddleware } from './session-manager.js';
export type { UserSession } from './revocation/user-sessions.js';
export type { StoreCallback } from './session/store.js';
export type { SessionData } from 'express-session';
export type { SessionRequest } from './session/session.js';
export type { CookieData } from './session/cookie.js';
export type { CookieOptions } from './session/cookie.js';
export type { StatisticsSnapshot } from './base/statistics.js';
export type { LatencySummary } from './base/histogram.js';
export type { MetricsRegistry } from './metrics/prometheus.js';
export type { Logger, LogFields } from './base/logger.js';
