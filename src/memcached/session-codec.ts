import { createHash } from 'node:crypto';
import type { SessionData } from '../manager/store.js';

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

/** A session split into what changes rarely (`body`) and its cookie, plus the body's hash. */
export interface EncodedSession {
  /** JSON of the session's attributes, without `cookie`. */
  body: string;
  /** SHA-256 of `body`: equal hashes mean the attributes did not change. */
  hash: string;
  /** The cookie's stored form (JSON-compatible). */
  cookie: unknown;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

/** JSON of a session's attributes without its cookie, keeping only attribute names that pass `filter`. */
export function attributesJson(session: object, filter?: RegExp): string {
  // Own enumerable properties only (a Session's id, req and methods are not), cookie left out.
  // A shallow copy instead of a replacer function keeps JSON.stringify on its fast path.
  const { cookie: _cookie, ...attributes } = session as Record<string, unknown>;
  if (filter) for (const key of Object.keys(attributes)) if (!filter.test(key)) delete attributes[key];
  return JSON.stringify(attributes);
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

/** Hash of a session's attributes (cookie excluded): how the lifecycle detects a change. */
export function hashSession(session: object): string {
  return sha256(attributesJson(session));
}

/** Splits a session into body, hash and cookie, applying `sessionAttributeFilter`. */
export function encodeSession(session: SessionData | object, filter?: RegExp): EncodedSession {
  const body = attributesJson(session, filter);
  return { body, hash: sha256(body), cookie: storedCookie((session as { cookie?: unknown }).cookie) };
}

/** The stored JSON: `{"cookie":…, …attributes}`, built without re-serializing the body. */
export function storedJson(encoded: Pick<EncodedSession, 'body' | 'cookie'>): string {
  const cookie = JSON.stringify(encoded.cookie);
  return encoded.body === '{}' ? `{"cookie":${cookie}}` : `{"cookie":${cookie},${encoded.body.slice(1)}`;
}

/** Throws SessionTooLargeError when the session under `key` cannot be one memcached item. */
export function checkItemSize(key: string, encoded: Pick<EncodedSession, 'body' | 'cookie'>, limit: number): void {
  // memcached counts key, value and ~50 bytes of item header against the slab size; the value is
  // the stored JSON plus a short version header (measured without building the JSON).
  const value = Buffer.byteLength(encoded.body) + Buffer.byteLength(JSON.stringify(encoded.cookie)) + 40;
  const size = value + Buffer.byteLength(key) + 50;
  if (size > limit) throw new SessionTooLargeError(size, limit);
}

/** Parses stored bytes back into session data; throws CorruptSessionError on anything else. */
export function decodeSession(raw: Buffer | string): SessionData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    throw new CorruptSessionError((err as Error).message);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CorruptSessionError('not a JSON object');
  }
  const cookie = (parsed as { cookie?: unknown }).cookie;
  if (typeof cookie !== 'object' || cookie === null || Array.isArray(cookie)) {
    throw new CorruptSessionError('missing cookie');
  }
  return parsed as SessionData;
}
