import { EventEmitter } from 'node:events';
import { inherits } from 'node:util';
import { Cookie } from './cookie.js';
import { Session, type SessionRequest } from './session.js';
import type { SessionData } from 'express-session';

// Stored form of a session: user data plus the cookie's attributes. express-session's interface,
// so stores written against it fit, and applications' augmentations of it apply here too.
export type { SessionData };

export type StoreCallback<T = void> = (err?: unknown, result?: T) => void;

/**
 * The express-session store contract. Third-party stores (connect-redis, connect-memcached)
 * inherit from it with `Store.call(this)` and `util.inherits`, so it is an ES5 constructor.
 */
export interface Store extends EventEmitter {
  get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void;
  set(sid: string, session: SessionData | Session, callback?: StoreCallback): void;
  destroy(sid: string, callback?: StoreCallback): void;
  touch?(sid: string, session: SessionData | Session, callback?: StoreCallback): void;
  all?(callback: StoreCallback<unknown>): void;
  length?(callback: StoreCallback<number>): void;
  clear?(callback?: StoreCallback): void;
  /** Installed by the middleware: creates a new session on `req`. */
  generate(req: SessionRequest): void;
  regenerate(req: SessionRequest, fn: StoreCallback): void;
  load(sid: string, fn: StoreCallback<Session>): void;
  createSession(req: SessionRequest, sess: SessionData): Session;
}

export interface StoreConstructor {
  new (): Store;
  (this: Store): void;
  prototype: Store;
}

/** Base class of session stores (an EventEmitter), callable as `Store.call(this)`. */
export const Store = function Store(this: Store) {
  EventEmitter.call(this);
} as unknown as StoreConstructor;
inherits(Store, EventEmitter);

Store.prototype.regenerate = function regenerate(this: Store, req: SessionRequest, fn: StoreCallback) {
  this.destroy(req.sessionID!, (err) => {
    this.generate(req);
    fn(err);
  });
};

Store.prototype.load = function load(this: Store, sid: string, fn: StoreCallback<Session>) {
  this.get(sid, (err, sess) => {
    if (err) return fn(err);
    if (!sess) return fn();
    const req = { sessionID: sid, sessionStore: this } as unknown as SessionRequest;
    fn(null, this.createSession(req, sess));
  });
};

Store.prototype.createSession = function createSession(this: Store, req: SessionRequest, sess: SessionData) {
  // A stored session's cookie is plain JSON (`expires` a string) until restored here.
  const data = sess as unknown as Record<string, unknown>;
  data.cookie = Cookie.restore(data.cookie as Record<string, unknown>);
  req.session = new Session(req, data);
  return req.session;
};
