import { LoadedSession, type SessionMode } from './session-mode.js';
import type { Session } from '../session/session.js';
import type { SessionData, Store } from '../session/store.js';

/** Runs a callback-style store method as a promise. */
function call<T>(run: (done: (err?: unknown, value?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value))));
}

/** Adapts an express-session store (MemoryStore, connect-redis, …) to the lifecycle's mode interface. */
export class StoreBackedMode implements SessionMode {
  readonly touches: boolean;

  constructor(private readonly store: Store) {
    this.touches = typeof store.touch === 'function';
  }

  async load(id: string): Promise<LoadedSession | undefined> {
    try {
      const data = await call<SessionData | null>((done) => this.store.get(id, done));
      return data ? new LoadedSession(id, data) : undefined;
    } catch (err) {
      // express-session treats ENOENT as "no such session".
      if ((err as { code?: string })?.code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(id: string, session: Session | SessionData): Promise<void> {
    await call((done) => this.store.set(id, session, done));
  }

  async touch(id: string, session: Session | SessionData): Promise<void> {
    await call((done) => this.store.touch!(id, session, done));
  }

  async destroy(id: string): Promise<void> {
    await call((done) => this.store.destroy(id, done));
  }

  async close(): Promise<void> {}
}
