import * as cookieLib from 'cookie';
import type { ServerResponse } from 'node:http';
import type { CookieData } from '../session/cookie.js';
import type { SessionRequest } from '../session/session.js';

/** Cookie values longer than this are not ours (ids are ~40 characters); ignore them unread. */
const MAX_COOKIE_VALUE = 1024;

/** Returns the value signed in `<value>.<signature>`, or false when the signature does not match. */
export type Unsign = (signed: string) => string | false;

function verified(raw: unknown, unsign: Unsign): string | undefined {
  if (typeof raw !== 'string' || raw.length > MAX_COOKIE_VALUE || !raw.startsWith('s:')) return undefined;
  return unsign(raw.slice(2)) || undefined;
}

/**
 * The session id from the request's signed cookie, or undefined when it is missing,
 * unsigned, forged or malformed (then no store lookup happens). Like express-session it also
 * accepts ids already parsed by cookie-parser.
 */
export function readSessionId(req: SessionRequest, name: string, unsign: Unsign): string | undefined {
  const header = req.headers.cookie;
  let id: string | undefined;
  if (header) id = verified(cookieLib.parse(header)[name], unsign);
  if (id) return id;
  // Read only when the header had no valid cookie (cookie-parser's results).
  const signedCookies = req.signedCookies as Record<string, unknown> | undefined;
  if (signedCookies && typeof signedCookies[name] === 'string') return signedCookies[name] as string;
  const cookies = req.cookies as Record<string, unknown> | undefined;
  return cookies ? verified(cookies[name], unsign) : undefined;
}

/** Appends the signed session cookie (`s:<id>.<signature>`, `signedId` being `<id>.<signature>`) to the response's Set-Cookie header. */
export function writeSessionCookie(res: ServerResponse, name: string, signedId: string, data: CookieData): void {
  const header = cookieLib.serialize(name, `s:${signedId}`, data as cookieLib.CookieSerializeOptions);
  const previous = res.getHeader('Set-Cookie') ?? [];
  res.setHeader('Set-Cookie', Array.isArray(previous) ? [...previous, header] : [String(previous), header]);
}
