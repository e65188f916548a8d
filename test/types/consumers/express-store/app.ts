// An Express 4 application whose store is written against express-session's types, with its
// SessionData augmented: the store extends this package's Store and both see the augmentation.
import express from 'express';
import type { SessionData } from 'express-session';
import session from 'memcached-session-manager';

declare module 'express-session' {
  interface SessionData {
    user: string;
    visits: number;
  }
}

class JsonStore extends session.Store {
  readonly #sessions = new Map<string, string>();

  get(sid: string, callback: (err: any, session?: SessionData | null) => void): void {
    const json = this.#sessions.get(sid);
    callback(null, json === undefined ? null : (JSON.parse(json) as SessionData));
  }

  set(sid: string, sess: SessionData, callback?: (err?: any) => void): void {
    const user: string = sess.user;
    this.#sessions.set(sid, JSON.stringify({ ...sess, user }));
    callback?.();
  }

  destroy(sid: string, callback?: (err?: any) => void): void {
    this.#sessions.delete(sid);
    callback?.();
  }

  touch(sid: string, sess: SessionData, callback?: () => void): void {
    this.set(sid, sess, callback);
  }
}

// The package's SessionData is express-session's, augmentation included.
const data: Partial<session.SessionData> = { user: 'ada', visits: 1 };
// @ts-expect-error the augmented SessionData types `visits` as a number
const wrong: Partial<session.SessionData> = { visits: 'one' };

const app = express();
app.use(session({ secret: 's', resave: false, saveUninitialized: false, store: new JsonStore() }));
app.get('/', (req, res) => {
  req.session.visits = (req.session.visits ?? 0) + 1;
  // @ts-expect-error the augmented SessionData types `user` as a string
  req.session.user = 42;
  res.send(`${req.session.user} ${req.sessionID}`);
});

export { app, data, wrong };
