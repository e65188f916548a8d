/** memcached keys: 1 to 250 printable ASCII characters, no spaces. */
const VALID_KEY = /^[\x21-\x7e]{1,250}$/;

/** The memcached key of a session. */
export function storageKey(prefix: string, id: string): string {
  return prefix + id;
}

/** Whether `id` can be looked up at all (an id from a foreign genid may not fit memcached's key rules). */
export function isStorableId(prefix: string, id: string): boolean {
  return VALID_KEY.test(storageKey(prefix, id));
}
