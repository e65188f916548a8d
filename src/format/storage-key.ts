/** memcached keys: 1 to 250 printable ASCII characters, no spaces. */
const VALID_KEY = /^[\x21-\x7e]{1,250}$/;

/** The memcached key of a session's lock (the session's key is a fixed-length hash: it always fits). */
export function lockKey(sessionKey: string): string {
  return `lock:${sessionKey}`;
}

/**
 * The key a version before sealing stored a session under (the raw id after the prefix), or
 * undefined when `id` could not have been one (an id from a foreign genid, or a forged long one).
 */
export function unsealedKey(prefix: string, id: string): string | undefined {
  const key = prefix + id;
  return VALID_KEY.test(key) ? key : undefined;
}
