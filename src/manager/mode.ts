import type { SessionRequest, Session } from './session.js';
import type { SessionData } from './store.js';

/**
 * A session as a mode hands it to the request lifecycle.
 *
 * A class, not an object literal, as are the other records made per request (the response hook,
 * non-sticky holds and reads, decoded copies): V8 counts how many objects of each literal
 * survive a young-generation collection and, above a threshold, allocates that literal straight
 * into the old generation from then on. During a burst of requests (creating sessions, a slow
 * moment) a per-request literal can cross it; from then on each request's record is old and
 * garbage when the request ends, yet it still points at the request's young objects, which the
 * next young collection therefore copies and promotes: the request, the response, the session,
 * its strings. Measured (sticky reads, small sessions): such a process promoted 11 KB a request
 * instead of 3.5 KB and spent 3 times as long in collection pauses, for as long as it ran; which
 * processes fell into it was chance. Class instances are always allocated young.
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
  /** Whether `touch` does anything (express-session only touches stores that implement it). */
  readonly touches: boolean;
  /** Flushes pending work and releases connections. */
  close(): Promise<void>;
}
