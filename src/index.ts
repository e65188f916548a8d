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
import { createSessionMiddleware, type SessionMiddleware } from './manager/middleware.js';
import type { SessionOptions } from './manager/options.js';
import { Store } from './manager/store.js';
import { MemoryStore } from './manager/memory-store.js';
import { Session } from './manager/session.js';
import { Cookie } from './manager/cookie.js';

/** Creates the session middleware; same signature and options as express-session's factory. */
function sessionFactory(options?: SessionOptions): SessionMiddleware {
  return createSessionMiddleware(options);
}

/** The factory, with express-session's exports attached (`session.Store`, `session.MemoryStore`, …). */
const session = Object.assign(sessionFactory, { Store, MemoryStore, Session, Cookie });

export default session;
export { session, Store, MemoryStore, Session, Cookie };
export { OptionError } from './manager/options.js';
export { SessionStoreUnavailableError } from './manager/errors.js';
export { SessionTooLargeError } from './memcached/session-codec.js';
export { SessionLockTimeoutError, SessionConflictError } from './manager/errors.js';
export { sessionMetrics } from './metrics/prometheus.js';
export { EmbeddedMemcached } from './embedded-memcached/server.js';
export type { SessionOptions } from './manager/options.js';
export type { SessionMiddleware } from './manager/middleware.js';
export type { SessionData, StoreCallback } from './manager/store.js';
export type { SessionRequest } from './manager/session.js';
export type { CookieOptions, CookieData } from './manager/cookie.js';
export type { StatisticsSnapshot } from './manager/statistics.js';
export type { LatencySummary } from './manager/histogram.js';
export type { Logger, LogFields } from './manager/logger.js';
