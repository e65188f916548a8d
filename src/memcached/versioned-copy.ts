/**
 * Stored session copies carry a version and their lifetime: of two copies the newer always wins
 * (a node that comes back with old data never serves a stale read), and a copy rewritten in the
 * background (repair, relocation) keeps the session's own lifetime.
 * Stored form: `<version>.<ttlSeconds>:<json>`.
 */
export interface VersionedCopy {
  version: number;
  /** Lifetime in seconds the copy is written with (0: never expires). */
  ttl: number;
  json: string;
}

export function encodeCopy(copy: VersionedCopy): string {
  return `${copy.version}.${copy.ttl}:${copy.json}`;
}

const HEADER = /^(\d{1,15})\.(\d{1,10}):/;

/** Splits a stored copy; undefined when it has no valid header (foreign or corrupt data). */
export function decodeCopy(raw: Buffer | string): VersionedCopy | undefined {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const header = HEADER.exec(text.slice(0, 32));
  if (!header) return undefined;
  return { version: Number(header[1]), ttl: Number(header[2]), json: text.slice(header[0].length) };
}
