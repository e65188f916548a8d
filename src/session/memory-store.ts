import { Store, type SessionData, type StoreCallback } from './store.js';
import type { Session } from './session.js';

/** A MemoryStore instance: sessions kept as JSON strings, keyed by id. */
export interface MemoryStore extends Store {
  sessions: Record<string, string>;
}

export interface MemoryStoreConstructor {
  new (): MemoryStore;
  (this: MemoryStore): void;
  prototype: MemoryStore;
}

/**
 * In-process store, behaviour-compatible with express-session's MemoryStore.
 * For development and single-process use only: nothing is shared or bounded.
 */
export const MemoryStore = function MemoryStore(this: MemoryStore) {
  Store.call(this);
  this.sessions = Object.create(null) as Record<string, string>;
} as unknown as MemoryStoreConstructor;
Object.setPrototypeOf(MemoryStore.prototype, Store.prototype);
Object.setPrototypeOf(MemoryStore, Store);

/** Parses a stored session, dropping it when its cookie has expired. */
function read(store: MemoryStore, sid: string): SessionData | undefined {
  const json = store.sessions[sid];
  if (!json) return undefined;
  const sess = JSON.parse(json) as SessionData;
  const raw = sess.cookie?.expires;
  const expires = typeof raw === 'string' ? new Date(raw) : raw;
  if (expires && expires.valueOf() <= Date.now()) {
    delete store.sessions[sid];
    return undefined;
  }
  return sess;
}

function later(callback: StoreCallback<never> | undefined, ...args: unknown[]): void {
  if (callback) setImmediate(callback as (...a: unknown[]) => void, ...args);
}

Object.assign(MemoryStore.prototype, {
  all(this: MemoryStore, callback?: StoreCallback<Record<string, SessionData>>) {
    const out = Object.create(null) as Record<string, SessionData>;
    for (const sid of Object.keys(this.sessions)) {
      const sess = read(this, sid);
      if (sess) out[sid] = sess;
    }
    later(callback as StoreCallback<never>, null, out);
  },
  clear(this: MemoryStore, callback?: StoreCallback) {
    this.sessions = Object.create(null) as Record<string, string>;
    later(callback as StoreCallback<never>);
  },
  destroy(this: MemoryStore, sid: string, callback?: StoreCallback) {
    delete this.sessions[sid];
    later(callback as StoreCallback<never>);
  },
  get(this: MemoryStore, sid: string, callback: (err: unknown, session?: SessionData | null) => void) {
    setImmediate(callback, null, read(this, sid));
  },
  set(this: MemoryStore, sid: string, session: SessionData | Session, callback?: StoreCallback) {
    this.sessions[sid] = JSON.stringify(session);
    later(callback as StoreCallback<never>);
  },
  length(this: MemoryStore, callback: StoreCallback<number>) {
    this.all!((err, sessions) => {
      if (err) return callback(err);
      callback(null, Object.keys(sessions as object).length);
    });
  },
  touch(this: MemoryStore, sid: string, session: SessionData | Session, callback?: StoreCallback) {
    const current = read(this, sid);
    if (current) {
      current.cookie = session.cookie as unknown as SessionData['cookie'];
      this.sessions[sid] = JSON.stringify(current);
    }
    later(callback as StoreCallback<never>);
  },
});
