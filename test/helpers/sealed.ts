import { Sealing } from '../../src/format/sealing.js';
import { decodeCopy, type VersionedCopy } from '../../src/format/versioned-copy.js';

/** The Sealing an app configured with `secret` and `storageKeyPrefix` uses: to name and open its items. */
export function sealingOf(secret: string | string[], prefix = ''): Sealing {
  return new Sealing(Array.isArray(secret) ? secret : [secret], prefix);
}

/** The session copy stored under `key`, opened (undefined: it does not open there). */
export function openCopy(sealing: Sealing, key: string, raw: Buffer): VersionedCopy | undefined {
  const text = sealing.open(key, raw);
  return text === undefined ? undefined : decodeCopy(text);
}
