import { decodeCopy, encodeCopy, type VersionedCopy } from './versioned-copy.js';
import type { Sealing } from './sealing.js';

/** How a session copy is stored under its key. */
export interface CopyCodec {
  encode(key: string, copy: VersionedCopy): Buffer | string;
  /** The copy, or undefined when `raw` is not a copy stored under `key` (corrupt, forged, moved). */
  decode(key: string, raw: Buffer): VersionedCopy | undefined;
}

/** Copies sealed under their key (see Sealing). */
export function sealedCopies(sealing: Sealing): CopyCodec {
  return {
    encode: (key, copy) => sealing.seal(key, encodeCopy(copy)),
    decode: (key, raw) => {
      const text = sealing.open(key, raw);
      return text === undefined ? undefined : decodeCopy(text);
    },
  };
}

/** Copies as versions before sealing stored them: read only with `acceptUnsealedSessions`. */
export const UNSEALED_COPIES: CopyCodec = {
  encode: (_key, copy) => encodeCopy(copy),
  decode: (_key, raw) => decodeCopy(raw),
};
