/*
 * Whether a request changed its session, for every store (this package's modes, MemoryStore, a
 * third-party store): the session's attributes compared as JSON, with a shortcut for sessions
 * whose attributes are all primitive values.
 */

/** JSON of a session's attributes without its cookie, keeping only attribute names that pass `filter`. */
export function attributesJson(session: object, filter?: RegExp): string {
  // Own enumerable properties only (a Session's id, req and methods are not), cookie left out.
  // A shallow copy instead of a replacer function keeps JSON.stringify on its fast path.
  const { cookie: _cookie, ...attributes } = session as Record<string, unknown>;
  if (filter) for (const key of Object.keys(attributes)) if (!filter.test(key)) delete attributes[key];
  return JSON.stringify(attributes);
}

/**
 * A session's attributes (cookie left out) as `[name, value, name, value, …]` when every value is
 * a string, number, boolean, null or undefined; undefined when any is something else (an object
 * can change inside unseen). `sameAttributes` then tells an unchanged session without
 * serializing it: such values serialize the same whenever they are identical.
 */
export function primitiveAttributes(session: object): unknown[] | undefined {
  // Array.of, not []: it lives as long as its request (see LoadedSession in modes/session-mode.ts).
  const out = Array.of<unknown>();
  for (const key of Object.keys(session)) {
    if (key === 'cookie') continue;
    const value = (session as Record<string, unknown>)[key];
    const type = typeof value;
    if (value !== null && type !== 'string' && type !== 'number' && type !== 'boolean' && type !== 'undefined') return undefined;
    out.push(key, value);
  }
  return out;
}

/**
 * Whether `session` has exactly the attributes `before` (from `primitiveAttributes`) lists: the
 * same names in the same order with identical values, so its `attributesJson` is unchanged. False
 * means "maybe changed" (the caller serializes).
 */
export function sameAttributes(session: object, before: readonly unknown[]): boolean {
  let i = 0;
  for (const key of Object.keys(session)) {
    if (key === 'cookie') continue;
    if (before[i] !== key || before[i + 1] !== (session as Record<string, unknown>)[key]) return false;
    i += 2;
  }
  return i === before.length;
}
