/**
 * What peers say to each other once a connection is authenticated (see peer-channel.ts for the
 * handshake and the sealed frames around these bodies). One request, one response, in order.
 *
 * Request:  op u8 · ttl i32 (seconds, 0 or less: never expires) · version 16 bytes · key length u16 · key · value
 * Response: status u8 · version 16 bytes · value
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
} as const;

/** Answers: `refused` is "absent" for reads, touches and deletes, "exists or changed" for conditional writes. */
export const STATUS = {
  ok: 0,
  refused: 1,
  tooLarge: 2,
} as const;

export type Op = (typeof OP)[keyof typeof OP];
export type Status = (typeof STATUS)[keyof typeof STATUS];

/** Longest key accepted (the package's keys are a prefix of at most 100 characters and a 43-character hash). */
export const MAX_KEY_BYTES = 512;
const REQUEST_HEADER = 1 + 4 + 16 + 2;
const RESPONSE_HEADER = 1 + 16;
/** Bytes a request adds to its value, at most: the largest frame body is this plus the largest value. */
export const MAX_REQUEST_OVERHEAD = REQUEST_HEADER + MAX_KEY_BYTES;

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
  if (op < OP.get || op > OP.instance) throw new MalformedMessage(`unknown operation ${op}`);
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
  if (body.length < RESPONSE_HEADER || body[0] > STATUS.tooLarge) throw new MalformedMessage('malformed response');
  return new Response(body[0] as Status, readVersion(body, 1), body.subarray(RESPONSE_HEADER));
}
