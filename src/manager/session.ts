import type { IncomingMessage } from 'node:http';
import type { Cookie } from './cookie.js';
import type { Store } from './store.js';

/** The request fields the session API relies on (set by the middleware). */
export interface SessionRequest extends IncomingMessage {
  sessionID?: string;
  session?: Session;
  sessionStore?: Store;
  secret?: string;
  [SAVE_LISTENER]?: { sessionSaved(session: Session): void };
  [key: string]: unknown;
}

type Callback = (err?: unknown) => void;

/**
 * Key of an optional listener on the request whose `sessionSaved` is called with the session
 * whenever `save()` is called explicitly: how the request lifecycle learns what was saved without
 * wrapping each session.
 */
export const SAVE_LISTENER = Symbol('msm.saveListener');

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
  declare cookie: Cookie;
  [key: string]: unknown;

  constructor(req: SessionRequest, data?: Record<string, unknown> | null) {
    this.#req = req;
    this.#id = req.sessionID as string;
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
    this.req[SAVE_LISTENER]?.sessionSaved(this);
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
