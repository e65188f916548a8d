import { decodeCopy, encodeCopy, SessionCopy, type VersionedCopy } from './versioned-copy.js';

/**
 * A session copy's delta: the top-level attributes one change set or removed, which a node that
 * holds the copy it was computed from applies in place (peers: Tomcat's DeltaManager sends
 * changed attributes, not whole sessions). Text form:
 *
 *   `<base version>#<base write id> <removed names, a JSON array>\n<copy header>:<set members as a JSON object>`
 *
 * The copy header is the new copy's (see versioned-copy.ts); the cookie is always among the set
 * members. A node applies a delta only to the very copy it was computed from (same version and
 * write id): any other copy, or none, and the writer sends the whole copy instead.
 */

/** Bodies shorter than this are always written whole: their delta would save next to nothing. */
export const DELTA_MIN_BODY = 1024;

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
/** What matters inside an array or object: strings (to skip) and nesting. */
const STRUCTURE = /["[\]{}]/g;

/** The index just past the string that opens at `start` (a quote); -1 when it does not end. */
function stringEnd(text: string, start: number): number {
  for (let from = start + 1; ; ) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index just past the JSON value that starts at `start`; -1 when it does not end. */
function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return stringEnd(text, start);
  if (first !== OPEN_BRACE && first !== 0x5b /* [ */) {
    // A number, true, false or null: up to the member's end.
    let end = start;
    while (end < text.length && text.charCodeAt(end) !== COMMA && text.charCodeAt(end) !== CLOSE_BRACE) end++;
    return end > start ? end : -1;
  }
  let depth = 0;
  STRUCTURE.lastIndex = start;
  for (let match = STRUCTURE.exec(text); match; match = STRUCTURE.exec(text)) {
    const at = match.index;
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      const end = stringEnd(text, at);
      if (end < 0) return -1;
      STRUCTURE.lastIndex = end;
    } else if (c === OPEN_BRACE || c === 0x5b) depth++;
    else if (--depth === 0) return at + 1;
  }
  return -1;
}

/**
 * The members of a JSON object as JSON.stringify writes it (no whitespace), in order: each
 * member's quoted name → its `"name":value` text. Undefined when `json` is not such an object.
 */
export function membersOf(json: string): Map<string, string> | undefined {
  const members = new Map<string, string>();
  if (json.charCodeAt(0) !== OPEN_BRACE || json.charCodeAt(json.length - 1) !== CLOSE_BRACE) return undefined;
  if (json.length === 2) return members;
  for (let start = 1; ; ) {
    if (json.charCodeAt(start) !== QUOTE) return undefined;
    const nameEnd = stringEnd(json, start);
    if (nameEnd < 0 || json.charCodeAt(nameEnd) !== COLON) return undefined;
    const end = valueEnd(json, nameEnd + 1);
    if (end < 0) return undefined;
    members.set(json.slice(start, nameEnd), json.slice(start, end));
    if (end === json.length - 1) return members;
    if (json.charCodeAt(end) !== COMMA) return undefined;
    start = end + 1;
  }
}

/** The copy a delta is computed from (see the module comment). */
export interface DeltaBase {
  version: number;
  writeId: string;
}

/**
 * The delta that turns the copy `base` (whose attributes were `baseBody`) into `copy` (attributes
 * `body`, cookie `cookie`): undefined when it would not be less than half the body, or a body is
 * not an object as JSON.stringify writes it.
 */
export function copyDelta(base: DeltaBase, baseBody: string, copy: VersionedCopy, body: string, cookie: unknown): string | undefined {
  if (body.length < DELTA_MIN_BODY) return undefined;
  const before = membersOf(baseBody);
  const after = before && membersOf(body);
  if (!before || !after) return undefined;
  let set = `{"cookie":${JSON.stringify(cookie)}`;
  for (const [name, member] of after) if (before.get(name) !== member) set += `,${member}`;
  const removed = [...before.keys()].filter((name) => !after.has(name));
  const header = encodeCopy(new SessionCopy(copy.version, copy.ttl, '', copy.expiresAt, copy.writeId));
  const delta = `${base.version}#${base.writeId} [${removed.join(',')}]\n${header}${set}}`;
  return delta.length * 2 < body.length ? delta : undefined;
}

const DELTA_LINE = /^(\d{1,15})#([A-Za-z0-9_-]{1,22}) (\[[^\n]*\])\n/;

/**
 * `stored` with `delta` applied: the new copy, or undefined when `stored` is not the delta's base
 * (another version or write) or the delta is malformed.
 */
export function applyDelta(stored: VersionedCopy, delta: string): VersionedCopy | undefined {
  // The header line ends at the first newline: JSON as JSON.stringify writes it has none.
  const line = DELTA_LINE.exec(delta);
  if (!line || Number(line[1]) !== stored.version || line[2] !== stored.writeId) return undefined;
  const next = decodeCopy(delta.slice(line[0].length));
  const members = membersOf(stored.json);
  const set = next && membersOf(next.json);
  if (!members || !set) return undefined;
  let removed: unknown;
  try {
    removed = JSON.parse(line[3]);
  } catch {
    return undefined;
  }
  if (!Array.isArray(removed)) return undefined;
  for (const name of removed) members.delete(JSON.stringify(name));
  // Replaced members keep their place (the cookie stays first); new ones go last.
  for (const [name, member] of set) members.set(name, member);
  return new SessionCopy(next.version, next.ttl, `{${[...members.values()].join(',')}}`, next.expiresAt, next.writeId);
}
