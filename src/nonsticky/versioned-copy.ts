/**
 * Non-sticky copies carry a version so that, of two copies, the newer one always wins (a node
 * that comes back with old data can never serve a stale read). Stored form: `<version>:<json>`.
 */
export interface VersionedCopy {
  version: number;
  json: string;
}

export function encodeCopy(version: number, json: string): string {
  return `${version}:${json}`;
}

/** Splits a stored copy; returns undefined when it has no version header (foreign or corrupt data). */
export function decodeCopy(raw: Buffer | string): VersionedCopy | undefined {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon > 16) return undefined;
  const version = Number(text.slice(0, colon));
  if (!Number.isSafeInteger(version) || version < 0) return undefined;
  return { version, json: text.slice(colon + 1) };
}
