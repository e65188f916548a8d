import { randomFillSync } from 'node:crypto';

/**
 * CSPRNG bytes are drawn 4 KiB at a time: one `randomBytes` call per write id or lock token
 * would cost every request a system call's worth of time. Each byte is handed out once.
 */
const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

/** `bytes` random bytes from the CSPRNG, base64url-encoded (session ids, write ids, lock tokens). */
export function randomToken(bytes: number): string {
  // Larger than the pool would silently give a short token.
  if (bytes > pool.length) throw new RangeError(`randomToken: at most ${pool.length} bytes`);
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const token = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return token;
}
