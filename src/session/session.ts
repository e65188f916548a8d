import type { IncomingMessage } from 'node:http';
import type { Cookie } from './cookie.js';
import type { SessionData } from 'express-session';

/** The request fields the session API relies on (set by the middleware). */
export interface SessionRequest extends IncomingMessage {
  sessionID?: string;
  session?: Session;
  sessionStore?: SessionStoreCalls;
  secret?: string;
  [key: string]: unknown;
}

type Callback = (err?: unknown) => void;

/** The store calls a session makes: part of the Store contract (store.ts), named here so the two files do not import each other. */
export interface SessionStoreCalls {
  get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void;
  set(sid: string, session: Session, callback?: Callback): void;
  destroy(sid: string, callback?: Callback): void;
  regenerate(req: SessionRequest, callback: Callback): void;
  createSession(req: SessionRequest, session: SessionData): Session;
}

/** Told of every explicit `save()` of a request's session. */
export interface SaveListener {
  sessionSaved(session: Session): void;
}

let setSaveListener: (session: Session, listener: SaveListener) => void;

/**
 * Tells `listener` of every explicit `save()` of `session` and of the sessions that replace it on
 * its request (regenerate, reload). The middleware calls it on the session it sets up.
 */
export function listenForSaves(session: Session, listener: SaveListener): void {
  setSaveListener(session, listener);
}

/**
 * `req.session`: the user's data as own enumerable properties, plus `cookie`.
 * API-compatible with express-session's `Session`; `id` and `req` are not enumerable,
 * so they are never stored.
 */
export class Session {
  // Private fields and prototype getters: never enumerated nor stored, and cheaper to create than
  // per-instance non-enumerable properties (one Session per request).
  readonly #req: SessionRequest;
  readonly #id: string;
  #saveListener: SaveListener | undefined;
  declare cookie: Cookie;
  [key: string]: unknown;

  constructor(req: SessionRequest, data?: Record<string, unknown> | null) {
    this.#req = req;
    this.#id = req.sessionID as string;
    // A session that replaces the request's session (regenerate, reload) reports to the same listener.
    // Kept on the session, not on the request, whose properties belong to the application.
    const replaced = req.session;
    this.#saveListener = replaced instanceof Session ? replaced.#saveListener : undefined;
    if (typeof data === 'object' && data !== null) {
      for (const prop in data) {
        if (!(prop in this)) this[prop] = data[prop];
      }
    }
  }

  /** The session id (not enumerable, never stored). */
  get id(): string {
    return this.#id;
  }

  /** The request this session belongs to (not enumerable, never stored). */
  get req(): SessionRequest {
    return this.#req;
  }

  static {
    setSaveListener = (session, listener) => (session.#saveListener = listener);
  }

  /** Restarts the inactivity countdown (alias of `resetMaxAge`). */
  touch(): this {
    return this.resetMaxAge();
  }

  /** Resets `cookie.maxAge` to `cookie.originalMaxAge`. */
  resetMaxAge(): this {
    this.cookie.maxAge = this.cookie.originalMaxAge;
    return this;
  }

  /** Saves the session now (the middleware also saves at the end of the request when needed). */
  save(fn?: Callback): this {
    this.#saveListener?.sessionSaved(this);
    this.req.sessionStore!.set(this.id, this, fn ?? noop);
    return this;
  }

  /** Replaces the session's data with the stored copy. */
  reload(fn: Callback): this {
    const req = this.req;
    const store = req.sessionStore!;
    store.get(this.id, (err, sess) => {
      if (err) return fn(err);
      if (!sess) return fn(new Error('failed to load session'));
      store.createSession(req, sess);
      fn();
    });
    return this;
  }

  /** Deletes the session from the store and from `req`. */
  destroy(fn?: Callback): this {
    delete this.req.session;
    this.req.sessionStore!.destroy(this.id, fn ?? noop);
    return this;
  }

  /** Replaces the session with a new, empty one under a new id (call it on login). */
  regenerate(fn: Callback): this {
    this.req.sessionStore!.regenerate(this.req, fn);
    return this;
  }
}

function noop(): void {}
