/**
 * What peers say to each other once a connection is authenticated (see peer-channel.ts for the
 * handshake and the sealed frames around these bodies). One request, one response, in order.
 *
 * Request:  op u8 · ttl i32 (seconds, 0 or less: never expires) · version 16 bytes · key length u16 · key · value
 * Response: status u8 · version 16 bytes · value
 *
 * `scan` pages through a store in key order (a starting process pulls its peer's state): its key is
 * the last key of the previous page ('' first), its answer's value a page: more u8 (1: another
 * page follows) · items, each key length u16 · key · ttl i32 (seconds left, 0: never expires) ·
 * value length u32 · value.
 *
 * `instance` answers the store's random name, then (space-separated) what it offers beyond the
 * first version of this protocol: `patch` (a peer that does not say so never gets one).
 *
 * `patch` applies a session copy's delta (its value, see format/copy-delta.ts) to the copy stored
 * under its key: refused when that copy is not the delta's base, and then the writer sends it whole.
 *
 * Messages (NodeMessages over peers): `subscribe` (value: the channels, see encodeFields) makes its
 * connection a subscriber until it closes; from then on the store pushes each message published on
 * those channels to it as a response of status `message`, which answers no request (value:
 * channel · message). `publish` (value: channel · message) answers the number of receivers as its
 * version. `storeIfAndPublish` (version 0: add) stores the item and, in the same step, publishes
 * `<order> <replyTo> <value>` (value: channel · replyTo · item); it answers the new version (the
 * order) and, as a u32 value, the receivers. `publishState` (value: channel · tag) publishes
 * `<tag> <version or 0> <value>` of its key and answers the receivers as its version.
 */

/** Operations; each mirrors a StorageNode call. */
export const OP = {
  get: 1,
  getAndTouch: 2,
  set: 3,
  add: 4,
  replaceIf: 5,
  delete: 6,
  deleteIf: 7,
  touch: 8,
  instance: 9,
  scan: 10,
  patch: 11,
  subscribe: 12,
  publish: 13,
  storeIfAndPublish: 14,
  publishState: 15,
} as const;

/** What an `instance` answer names when the store applies deltas (`patch`). */
export const FEATURE_PATCH = 'patch';

/** Answers: `refused` is "absent" for reads, touches and deletes, "exists or changed" for conditional writes. */
export const STATUS = {
  ok: 0,
  refused: 1,
  tooLarge: 2,
  /** A message pushed to a subscribed connection (see `subscribe`). */
  message: 3,
} as const;

export type Op = (typeof OP)[keyof typeof OP];
export type Status = (typeof STATUS)[keyof typeof STATUS];

/** Longest key accepted (the package's keys are a prefix of at most 100 characters and a 43-character hash). */
export const MAX_KEY_BYTES = 512;
const REQUEST_HEADER = 1 + 4 + 16 + 2;
const RESPONSE_HEADER = 1 + 16;
const SCAN_ITEM_HEADER = 2 + 4 + 4;
/** Bytes a message adds to the largest value it carries, at most: the largest frame body is this plus the largest value. */
export const MAX_MESSAGE_OVERHEAD = Math.max(REQUEST_HEADER + MAX_KEY_BYTES, RESPONSE_HEADER + 1 + SCAN_ITEM_HEADER + MAX_KEY_BYTES);

export interface PeerRequest {
  op: Op;
  key: string;
  ttl: number;
  /** 0n when the operation takes none. */
  version: bigint;
  value: Buffer;
}

export interface PeerResponse {
  status: Status;
  /** 0n when the answer carries none. */
  version: bigint;
  value: Buffer;
}

/** A request as built by a PeerNode (a class, not a literal: one shape for every call). */
export class Request implements PeerRequest {
  constructor(
    readonly op: Op,
    readonly key: string,
    readonly ttl: number,
    readonly version: bigint,
    readonly value: Buffer,
  ) {}
}

/** A response (a class, as Request). */
export class Response implements PeerResponse {
  constructor(
    readonly status: Status,
    readonly version: bigint,
    readonly value: Buffer,
  ) {}
}

const EMPTY = Buffer.alloc(0);
export const REFUSED = new Response(STATUS.refused, 0n, EMPTY);
export const TOO_LARGE = new Response(STATUS.tooLarge, 0n, EMPTY);

/** A body that is no valid request or response: the connection it came over is closed. */
export class MalformedMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedMessage';
  }
}

function writeVersion(buffer: Buffer, offset: number, version: bigint): void {
  buffer.writeBigUInt64BE(BigInt.asUintN(64, version >> 64n), offset);
  buffer.writeBigUInt64BE(BigInt.asUintN(64, version), offset + 8);
}

function readVersion(buffer: Buffer, offset: number): bigint {
  return (buffer.readBigUInt64BE(offset) << 64n) | buffer.readBigUInt64BE(offset + 8);
}

export function encodeRequest(request: PeerRequest): Buffer {
  const key = Buffer.from(request.key);
  if (key.length > MAX_KEY_BYTES) throw new RangeError(`key of ${key.length} bytes exceeds ${MAX_KEY_BYTES}`);
  const body = Buffer.allocUnsafe(REQUEST_HEADER + key.length + request.value.length);
  body[0] = request.op;
  body.writeInt32BE(Math.max(-1, Math.min(request.ttl, 2 ** 31 - 1)), 1);
  writeVersion(body, 5, request.version);
  body.writeUInt16BE(key.length, 21);
  key.copy(body, REQUEST_HEADER);
  request.value.copy(body, REQUEST_HEADER + key.length);
  return body;
}

export function decodeRequest(body: Buffer): PeerRequest {
  if (body.length < REQUEST_HEADER) throw new MalformedMessage('request shorter than its header');
  const op = body[0];
  if (op < OP.get || op > OP.publishState) throw new MalformedMessage(`unknown operation ${op}`);
  const keyLength = body.readUInt16BE(21);
  if (keyLength > MAX_KEY_BYTES || REQUEST_HEADER + keyLength > body.length) throw new MalformedMessage('key length out of bounds');
  const key = body.toString('utf8', REQUEST_HEADER, REQUEST_HEADER + keyLength);
  return new Request(op as Op, key, body.readInt32BE(1), readVersion(body, 5), body.subarray(REQUEST_HEADER + keyLength));
}

export function encodeResponse(response: PeerResponse): Buffer {
  const body = Buffer.allocUnsafe(RESPONSE_HEADER + response.value.length);
  body[0] = response.status;
  writeVersion(body, 1, response.version);
  response.value.copy(body, RESPONSE_HEADER);
  return body;
}

export function decodeResponse(body: Buffer): PeerResponse {
  if (body.length < RESPONSE_HEADER || body[0] > STATUS.message) throw new MalformedMessage('malformed response');
  return new Response(body[0] as Status, readVersion(body, 1), body.subarray(RESPONSE_HEADER));
}

/** One item of a scan page. */
export class ScanItem {
  constructor(
    readonly key: string,
    /** Seconds left to live; 0: never expires. */
    readonly ttl: number,
    readonly value: Buffer,
  ) {}
}

/** A page of a scan, and whether another follows. */
export interface ScanPage {
  items: ScanItem[];
  more: boolean;
}

/**
 * Encodes as many of `items` as fit in a response to a peer allowing `itemSizeLimit` (at least
 * one); `taken` says how many went in.
 */
export function encodeScanPage(items: Iterable<ScanItem>, itemSizeLimit: number): { page: Buffer; taken: number } {
  const budget = itemSizeLimit + MAX_MESSAGE_OVERHEAD - RESPONSE_HEADER;
  const parts: Buffer[] = [Buffer.alloc(1)];
  let size = 1;
  for (const item of items) {
    const key = Buffer.from(item.key);
    const header = Buffer.allocUnsafe(SCAN_ITEM_HEADER);
    if (parts.length > 1 && size + header.length + key.length + item.value.length > budget) {
      parts[0][0] = 1;
      break;
    }
    header.writeUInt16BE(key.length, 0);
    header.writeInt32BE(Math.min(item.ttl, 2 ** 31 - 1), 2);
    header.writeUInt32BE(item.value.length, 6);
    parts.push(header.subarray(0, 2), key, header.subarray(2), item.value);
    size += header.length + key.length + item.value.length;
  }
  return { page: Buffer.concat(parts, size), taken: (parts.length - 1) / 4 };
}

export function decodeScanPage(page: Buffer): ScanPage {
  if (page.length < 1 || page[0] > 1) throw new MalformedMessage('malformed scan page');
  const items: ScanItem[] = [];
  for (let offset = 1; offset < page.length; ) {
    if (offset + SCAN_ITEM_HEADER > page.length) throw new MalformedMessage('scan item shorter than its header');
    const keyLength = page.readUInt16BE(offset);
    const keyEnd = offset + 2 + keyLength;
    if (keyLength > MAX_KEY_BYTES || keyEnd + 8 > page.length) throw new MalformedMessage('scan key length out of bounds');
    const ttl = page.readInt32BE(keyEnd);
    const valueEnd = keyEnd + 8 + page.readUInt32BE(keyEnd + 4);
    if (valueEnd > page.length) throw new MalformedMessage('scan value length out of bounds');
    items.push(new ScanItem(page.toString('utf8', offset + 2, keyEnd), ttl, page.subarray(keyEnd + 8, valueEnd)));
    offset = valueEnd;
  }
  return { items, more: page[0] === 1 };
}

/**
 * `fields`, each as u16 length · bytes, then `rest` as it is: the values of the message
 * operations (a channel, a reply channel, a tag; see the header).
 */
export function encodeFields(fields: readonly string[], rest: Buffer | string = EMPTY): Buffer {
  const encoded = fields.map((field) => Buffer.from(field));
  const tail = typeof rest === 'string' ? Buffer.from(rest) : rest;
  const body = Buffer.allocUnsafe(encoded.reduce((sum, field) => sum + 2 + field.length, 0) + tail.length);
  let offset = 0;
  for (const field of encoded) {
    if (field.length > MAX_KEY_BYTES) throw new RangeError(`field of ${field.length} bytes exceeds ${MAX_KEY_BYTES}`);
    body.writeUInt16BE(field.length, offset);
    field.copy(body, offset + 2);
    offset += 2 + field.length;
  }
  tail.copy(body, offset);
  return body;
}

/** The first `count` fields of `value` (see encodeFields) and the bytes after them. */
export function decodeFields(value: Buffer, count: number): { fields: string[]; rest: Buffer } {
  const fields: string[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 2 > value.length) throw new MalformedMessage('field shorter than its length');
    const end = offset + 2 + value.readUInt16BE(offset);
    if (end - offset - 2 > MAX_KEY_BYTES || end > value.length) throw new MalformedMessage('field length out of bounds');
    fields.push(value.toString('utf8', offset + 2, end));
    offset = end;
  }
  return { fields, rest: value.subarray(offset) };
}

/** The fields of a value made of fields only (a subscription's channels), at most `max`. */
export function decodeAllFields(value: Buffer, max: number): string[] {
  const fields: string[] = [];
  for (let rest = value; rest.length > 0; ) {
    if (fields.length === max) throw new MalformedMessage(`more than ${max} fields`);
    const next = decodeFields(rest, 1);
    fields.push(next.fields[0]);
    rest = next.rest;
  }
  return fields;
}
