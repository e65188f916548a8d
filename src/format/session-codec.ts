import * as cookieLib from 'cookie';
import type { SessionData } from '../session/store.js';
import { SEAL_OVERHEAD } from './sealing.js';
import { attributesJson } from '../session/change-detection.js';

/**
 * Deepest nesting of objects and arrays a session may have. JSON.parse copes with any depth, but
 * JSON.stringify (change detection, saving) recurses and overflows the stack a few thousand levels down.
 */
export const MAX_SESSION_DEPTH = 500;

/** Stored bytes that are not a session (truncated, foreign or tampered data). */
export class CorruptSessionError extends Error {
  constructor(reason: string) {
    super(`stored session data is corrupt: ${reason}`);
    this.name = 'CorruptSessionError';
  }
}

/**
 * A session too large for one memcached item: over the `itemSizeLimit` option, or refused by a
 * memcached node whose own limit (-I) is lower. The request fails with 413; the session is not stored.
 */
export class SessionTooLargeError extends Error {
  readonly status = 413;
  readonly statusCode = 413;
  readonly code = 'ESESSIONTOOLARGE';
  constructor(
    readonly size: number,
    readonly limit: number,
    /** The memcached node that refused the value, when it was memcached that refused it. */
    readonly refusedBy?: string,
  ) {
    super(
      refusedBy === undefined
        ? `session is ${size} bytes serialized, over memcached's item size limit of ${limit} bytes ` +
            '(raise memcached -I and the itemSizeLimit option, or store less in the session)'
        : `session is ${size} bytes serialized; memcached node ${refusedBy} refused it as too large ` +
            `(its -I item size limit is below the itemSizeLimit option, ${limit} bytes: make them agree)`,
    );
    this.name = 'SessionTooLargeError';
  }
}

/** A session split into what changes rarely (`body`) and its cookie. */
export interface EncodedSession {
  /** JSON of the session's attributes, without `cookie`. */
  body: string;
  /** The cookie's stored form (JSON-compatible). */
  cookie: unknown;
}

/** A cookie's stored form (as JSON would give it): `expires` as an ISO string, undefined fields dropped. */
export function storedCookie(cookie: unknown): Record<string, unknown> | null {
  if (!cookie || typeof cookie !== 'object') return null;
  const data = (typeof (cookie as { toJSON?: unknown }).toJSON === 'function' ? (cookie as { toJSON(): object }).toJSON() : cookie) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue;
    out[key] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}

/**
 * Splits a session into body and cookie, applying `sessionAttributeFilter`. `json`, when given,
 * is the session's `attributesJson` (no filter) already at hand: without a filter it is the body,
 * and the session is not serialized again.
 */
export function encodeSession(session: SessionData | object, filter?: RegExp, json?: string): EncodedSession {
  const body = json === undefined || filter ? attributesJson(session, filter) : json;
  // Refused here, with a clear error, rather than stored and then found corrupt on the next load.
  if (nestsDeeperThan(body, MAX_SESSION_DEPTH)) {
    throw new TypeError(`session attributes are nested deeper than ${MAX_SESSION_DEPTH} levels`);
  }
  return { body, cookie: storedCookie((session as { cookie?: unknown }).cookie) };
}

/** The stored JSON: `{"cookie":…, …attributes}`, built without re-serializing the body. */
export function storedJson(encoded: Pick<EncodedSession, 'body' | 'cookie'>): string {
  const cookie = JSON.stringify(encoded.cookie);
  return encoded.body === '{}' ? `{"cookie":${cookie}}` : `{"cookie":${cookie},${encoded.body.slice(1)}`;
}

/**
 * The attributes' JSON inside stored text that `storedJson` wrote, given the cookie parsed from
 * it: lets a load skip serializing the session for change detection. Undefined when the text was
 * not written that way (then the caller serializes). A wrong answer can only make an unchanged
 * session look changed (one extra save), never hide a change: it is compared with the JSON of
 * the session as it ends.
 */
export function storedBody(text: string, cookie: unknown): string | undefined {
  const prefix = `{"cookie":${JSON.stringify(cookie)}`;
  if (!text.startsWith(prefix)) return undefined;
  const next = text.charCodeAt(prefix.length);
  if (next === 0x2c /* , */) return `{${text.slice(prefix.length + 1)}`;
  return next === 0x7d /* } */ && text.length === prefix.length + 1 ? '{}' : undefined;
}

/** Throws SessionTooLargeError when the session under `key` cannot be one memcached item. */
export function checkItemSize(key: string, encoded: Pick<EncodedSession, 'body' | 'cookie'>, limit: number): void {
  // memcached counts key, value and ~50 bytes of item header against the slab size; the value is
  // the stored JSON plus a short version header and the seal (measured without building the JSON).
  const value = Buffer.byteLength(encoded.body) + Buffer.byteLength(JSON.stringify(encoded.cookie)) + 40 + SEAL_OVERHEAD;
  const size = value + Buffer.byteLength(key) + 50;
  if (size > limit) throw new SessionTooLargeError(size, limit);
}

/**
 * Whether JSON text nests objects and arrays deeper than `max`: a scan of the text, without
 * recursion, so hostile data cannot overflow the stack before it is even parsed.
 */
export function nestsDeeperThan(json: string, max: number): boolean {
  // Text with at most `max` opening brackets (strings included) cannot nest deeper: counted with
  // indexOf, which is native and much faster than the character loop below.
  if (occurrences(json, '{', max) + occurrences(json, '[', max) <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** How often `c` occurs in `text`, counted up to `max + 1`. */
function occurrences(text: string, c: string, max: number): number {
  let count = 0;
  for (let i = text.indexOf(c); i !== -1 && count <= max; i = text.indexOf(c, i + 1)) count++;
  return count;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const optional = (value: unknown, type: string) => value === undefined || value === null || typeof value === type;
/** A millisecond offset from now that still gives a valid Date. */
const isDuration = (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) && Number.isFinite(new Date(Date.now() + value).valueOf());
const isDateString = (value: unknown) => typeof value === 'string' && Number.isFinite(Date.parse(value));

/** Checks of each stored cookie attribute; an attribute not listed here is not ours. */
const COOKIE_FIELDS: Record<string, (value: unknown) => boolean> = {
  originalMaxAge: (v) => v === null || v === undefined || isDuration(v),
  maxAge: (v) => v === null || v === undefined || isDuration(v),
  expires: (v) => v === null || v === undefined || isDateString(v),
  secure: (v) => optional(v, 'boolean') || v === 'auto',
  httpOnly: (v) => optional(v, 'boolean'),
  partitioned: (v) => optional(v, 'boolean'),
  domain: (v) => optional(v, 'string'),
  path: (v) => optional(v, 'string'),
  sameSite: (v) => optional(v, 'boolean') || typeof v === 'string',
  priority: (v) => optional(v, 'string'),
};

/** Why a stored cookie cannot be used, or undefined when it can (it then also serializes). */
function cookieProblem(cookie: unknown): string | undefined {
  if (!isObject(cookie)) return 'missing cookie';
  for (const [name, value] of Object.entries(cookie)) {
    const check = COOKIE_FIELDS[name];
    if (!check) return `unknown cookie attribute "${name}"`;
    if (!check(value)) return `cookie.${name} has the wrong type or value`;
  }
  // The Set-Cookie header is built from these attributes later: reject what it would refuse now.
  const expires = typeof cookie.expires === 'string' ? new Date(cookie.expires) : undefined;
  try {
    cookieLib.serialize('n', 'v', { ...cookie, expires } as cookieLib.CookieSerializeOptions);
  } catch (err) {
    return `cookie cannot be sent: ${(err as Error).message}`;
  }
  return undefined;
}

/**
 * Parses stored bytes back into session data; throws CorruptSessionError on anything else:
 * invalid JSON, nesting deeper than MAX_SESSION_DEPTH, or a cookie of the wrong shape. Data that
 * passes can be hashed, stored and sent as a cookie without an error.
 */
export function decodeSession(raw: Buffer | string): SessionData {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (nestsDeeperThan(text, MAX_SESSION_DEPTH)) {
    throw new CorruptSessionError(`nested deeper than ${MAX_SESSION_DEPTH} levels`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CorruptSessionError((err as Error).message);
  }
  if (!isObject(parsed)) throw new CorruptSessionError('not a JSON object');
  const problem = cookieProblem(parsed.cookie);
  if (problem) throw new CorruptSessionError(problem);
  return parsed as unknown as SessionData;
}
