/** memcached keys: 1 to 250 printable ASCII characters, no spaces. */
const VALID_KEY = /^[\x21-\x7e]{1,250}$/;

/** The memcached key of a session. */
export function storageKey(prefix: string, id: string): string {
  return prefix + id;
}

/** The memcached key of a session's lock: the longest key derived from a session id. */
export function lockKey(sessionKey: string): string {
  return `lock:${sessionKey}`;
}

/**
 * Whether `id` can be looked up at all: every key derived from it (an id from a foreign genid,
 * or a forged long one, may not fit memcached's key rules) must be valid, so no call is sent
 * that memcached would refuse.
 */
export function isStorableId(prefix: string, id: string): boolean {
  const key = storageKey(prefix, id);
  return key.length > 0 && VALID_KEY.test(lockKey(key));
}
