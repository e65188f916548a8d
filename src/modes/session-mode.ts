import type { SessionRequest, Session } from '../session/session.js';
import type { SessionData } from '../session/store.js';
import type { UserSessions } from '../revocation/user-sessions.js';

/**
 * A session as a mode hands it to the request lifecycle.
 *
 * A class, not an object literal, as are the other records made per request: V8 may pretenure a
 * literal's allocation site after a burst, and an old per-request record then keeps its request's
 * young objects alive into the old generation (docs/performance.md measures it).
 */
export class LoadedSession {
  constructor(
    /** The id the session has from now on (takeover may move it to this node's route). */
    readonly id: string,
    readonly data: SessionData,
    /** JSON of `data`'s attributes (cookie left out) when the mode has it: spares serializing the session at load. */
    readonly json?: string,
  ) {}
}

/**
 * What the request lifecycle needs from a storage mode. Implemented by the adapter for
 * express-session stores, by sticky mode and by non-sticky mode.
 */
export interface SessionMode {
  /** Loads a session, or resolves `undefined` when there is none; may answer synchronously (a session held in memory). */
  load(id: string, req?: SessionRequest): Promise<LoadedSession | undefined> | LoadedSession | undefined;
  /**
   * Stores the session (it changed, or `resave` asks for it). Returns nothing when it completed
   * synchronously, so the response need not wait; may throw synchronously. `json`, when given, is
   * the session's attributes as JSON (cookie left out, no filter applied), already computed by the caller.
   */
  save(id: string, session: Session | SessionData, json?: string): Promise<void> | void;
  /** Marks an unchanged session as used, extending its lifetime (synchronously when it returns nothing). */
  touch(id: string, session: Session | SessionData): Promise<void> | void;
  /** Keeps a session alive without loading it (a touch-only request). */
  keepAlive?(id: string): Promise<void>;
  /** Deletes the session. */
  destroy(id: string): Promise<void>;
  /**
   * Releases what the request holds (locks) once its session is stored, before the response
   * completes: a response the client has seen never leaves a lock behind, even if the process
   * dies right after. Returns nothing when the request holds nothing.
   */
  releaseLocks?(req: SessionRequest): Promise<void> | undefined;
  /** The request that used `id` is over, whether it completed or the client went away. */
  finish?(id: string, req: SessionRequest): void;
  /** memcached nodes that hold (or are about to hold) the session's copies. */
  copiesOf?(id: string): string[];
  /** Sessions by principal (undefined: the mode keeps no index, or the `principal` option is false). */
  readonly users?: UserSessions;
  /** Whether `touch` does anything (express-session only touches stores that implement it). */
  readonly touches: boolean;
  /** Flushes pending work and releases connections. */
  close(): Promise<void>;
}
