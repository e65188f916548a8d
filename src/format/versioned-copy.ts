import { randomToken } from '../base/random-token.js';

/**
 * Stored session copies carry a version and their lifetime: of two copies the newer always wins
 * (a node that comes back with old data never serves a stale read), and a copy rewritten in the
 * background (repair, relocation) keeps the session's own lifetime.
 * Stored form: `<version>.<ttlSeconds>:<json>`, or `<version>.<ttlSeconds>.<expiresAtMs>:<json>`
 * when the copy records when its session expires (sticky mode: a load never revives it); either
 * may end its header with `#<writeId>` (non-sticky writes).
 */
export interface VersionedCopy {
  version: number;
  /** Lifetime in seconds the copy is written with (0: never expires). */
  ttl: number;
  /** When the session expires, in ms since the epoch (absent: not recorded, or never). */
  expiresAt?: number;
  /**
   * Which write made the copy (random per write; absent in sticky backups and older data). Two
   * writes of one version can carry the same content, so only this tells a writer that the copy
   * a repair put on a node is its own.
   */
  writeId?: string;
  json: string;
}

/** A fresh write id: 64 random bits, enough that two writes of one version never share one. */
export function newWriteId(): string {
  return randomToken(8);
}

export function encodeCopy(copy: VersionedCopy): string {
  const expiry = copy.expiresAt !== undefined && Number.isFinite(copy.expiresAt) ? `.${Math.ceil(copy.expiresAt)}` : '';
  const writeId = copy.writeId === undefined ? '' : `#${copy.writeId}`;
  return `${copy.version}.${copy.ttl}${expiry}${writeId}:${copy.json}`;
}

const HEADER = /^(\d{1,15})\.(\d{1,10})(?:\.(\d{1,15}))?(?:#([A-Za-z0-9_-]{1,22}))?:/;

/**
 * A copy as a request writes it or reads it back: a class, not a literal (see LoadedSession in
 * modes/session-mode.ts; a copy holds the session's whole JSON).
 */
export class SessionCopy implements VersionedCopy {
  constructor(
    public version: number,
    public ttl: number,
    public json: string,
    public expiresAt?: number,
    public writeId?: string,
  ) {}
}

/** Splits a stored copy; undefined when it has no valid header (foreign or corrupt data). */
export function decodeCopy(raw: Buffer | string): VersionedCopy | undefined {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const header = HEADER.exec(text.slice(0, 72));
  if (!header) return undefined;
  const expiresAt = header[3] === undefined ? undefined : Number(header[3]);
  return new SessionCopy(Number(header[1]), Number(header[2]), text.slice(header[0].length), expiresAt, header[4]);
}

/** The version of a destroyed session's marker: above any version a session reaches (15 digits fit the header). */
const DESTROYED_VERSION = 999_999_999_999_999;

/**
 * What destroy writes in place of a session's copies (non-sticky): a marker newer than any
 * version, kept for the session's lifetime, so a copy on a node that missed the destroy (it was
 * unreachable and comes back with it) never wins a read again, and repairs spread the marker.
 */
export function destroyedCopy(ttl: number): VersionedCopy {
  return { version: DESTROYED_VERSION, ttl, json: '' };
}

export function isDestroyed(copy: VersionedCopy): boolean {
  return copy.version === DESTROYED_VERSION && copy.json === '';
}
