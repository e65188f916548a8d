import { Store, type SessionData, type StoreCallback } from '../session/store.js';
import type { SessionMode } from '../modes/session-mode.js';
import type { Session } from '../session/session.js';

/** Settles a mode call (a promise, a plain result, or a synchronous throw) into a Node-style callback. */
function settle<T>(work: () => Promise<T> | T, callback?: StoreCallback<T>): void {
  Promise.resolve()
    .then(work)
    .then(
      (value) => callback?.(null, value),
      (err: unknown) => callback?.(err),
    );
}

/**
 * `req.sessionStore` in MSM mode: the express-session store contract over a session mode,
 * so `req.session.save()`, `reload()`, `destroy()` and code that uses the store directly work.
 */
export class ModeBackedStore extends (Store as unknown as new () => Store) {
  constructor(readonly mode: SessionMode) {
    super();
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    settle(async () => (await this.mode.load(sid))?.data ?? null, callback as StoreCallback<SessionData | null>);
  }

  override set(sid: string, session: SessionData | Session, callback?: StoreCallback): void {
    settle(() => this.mode.save(sid, session), callback);
  }

  override destroy(sid: string, callback?: StoreCallback): void {
    settle(() => this.mode.destroy(sid), callback);
  }

  override touch(sid: string, session: SessionData | Session, callback?: StoreCallback): void {
    settle(() => this.mode.touch(sid, session), callback);
  }
}
