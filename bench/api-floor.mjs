// The least an express-session-compatible middleware must do to serve a session held in memory:
// parse the cookie header, map the signed value to an id (cached, as a verified-signature cache
// would), set req.sessionStore, req.sessionID and req.session (a fresh mutable object parsed from
// the session's JSON), hook writeHead (where the Set-Cookie header goes) and end, and compare the
// session's JSON at the end of the response to detect a change. No expiry, no revocation, no
// Session/Cookie objects: a lower bound for the sticky read path, measured in the same run.
import * as cookie from 'cookie';
import { randomBytes } from 'node:crypto';

export function apiFloor() {
  const bodies = new Map();
  const ids = new Map();
  return function floor(req, res, next) {
    const value = req.headers.cookie && cookie.parse(req.headers.cookie)['connect.sid'];
    let id = value && ids.get(value);
    let loaded = id && bodies.get(id);
    if (!loaded) {
      id = randomBytes(24).toString('base64url');
      loaded = '{}';
      const signed = `s:${id}.sig`;
      ids.set(signed, id);
      res.setHeader('Set-Cookie', cookie.serialize('connect.sid', signed, { httpOnly: true, path: '/' }));
    }
    req.sessionStore = bodies;
    req.sessionID = id;
    req.session = JSON.parse(loaded);
    const writeHead = res.writeHead;
    res.writeHead = function (...args) {
      return writeHead.apply(this, args);
    };
    const end = res.end;
    res.end = function (...args) {
      const json = JSON.stringify(req.session);
      if (json !== loaded) bodies.set(id, json);
      return end.apply(this, args);
    };
    next();
  };
}
