/** Binary protocol opcodes this package sends. */
export const OPCODE = { get: 0x00, set: 0x01, add: 0x02, delete: 0x04, touch: 0x1c, getAndTouch: 0x1d } as const;

/** Request header size in the binary protocol. */
const HEADER = 24;

/**
 * One binary-protocol request, written straight into a single buffer (memjs builds a header
 * object, a header buffer and copies of key, extras and value for each). `extras` is the length
 * of the extras: 0 (none), 4 (expiration: get-and-touch, touch) or 8 (flags 0 and expiration:
 * set, add).
 */
export function requestBuffer(opcode: number, key: string, extras: 0 | 4 | 8, expiration: number, value: Buffer | string, opaque: number, cas: bigint): Buffer {
  const keyLength = Buffer.byteLength(key);
  const valueLength = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  const buffer = Buffer.allocUnsafe(HEADER + extras + keyLength + valueLength);
  buffer[0] = 0x80; // request magic
  buffer[1] = opcode;
  buffer.writeUInt16BE(keyLength, 2);
  buffer[4] = extras;
  buffer[5] = 0; // data type
  buffer.writeUInt16BE(0, 6); // vbucket
  buffer.writeUInt32BE(extras + keyLength + valueLength, 8);
  buffer.writeUInt32BE(opaque, 12);
  buffer.writeBigUInt64BE(cas, 16);
  if (extras === 8) buffer.writeUInt32BE(0, HEADER); // flags
  if (extras > 0) buffer.writeUInt32BE(expiration, HEADER + extras - 4);
  buffer.write(key, HEADER + extras, keyLength, 'utf8');
  if (typeof value === 'string') buffer.write(value, HEADER + extras + keyLength, valueLength, 'utf8');
  else value.copy(buffer, HEADER + extras + keyLength);
  return buffer;
}
