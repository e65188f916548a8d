import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';

/**
 * The peer link's security: an authenticated handshake, then sealed frames.
 *
 * 1. The endpoint sends HELLO: magic "MSMP", version 2, a fresh 32-byte nonce.
 * 2. The client answers with its own 32-byte nonce and HMAC-SHA256(link key, "client" ‖ both nonces).
 * 3. The endpoint checks it against each secret's link key (closing the connection on a mismatch),
 *    and proves the key in turn: HMAC-SHA256(link key, "server" ‖ both nonces).
 * 4. Each direction then sends frames: u32 length ‖ AES-256-GCM(messages) ‖ tag, under a key
 *    derived from the link key and both nonces, the nonce being the frame's number on the
 *    connection. A frame replayed (from this connection or another), reordered, altered or forged
 *    fails to open. Its plaintext is one or more messages (peer-protocol.ts), each u32 length ‖
 *    message, filling it exactly: a client's calls made in one event-loop turn, and an endpoint's
 *    answers to one read, share a frame, one seal and one write.
 * Link keys are derived from the `secret` option (HKDF-SHA256, a salt of their own).
 */

const SALT = 'memcached-session-manager peers v1';
const MAGIC = Buffer.from('MSMP\x02');
const NONCE_BYTES = 32;
const PROOF_BYTES = 32;
const TAG_BYTES = 16;
const PREFIX_BYTES = 4;
/**
 * Most bytes of messages sealed together: a burst of session reads and writes shares a frame,
 * which stays far below a peer's bound (itemSizeLimit, 1 MiB by default).
 */
const COALESCE_BYTES = 16 * 1024;
export const HELLO_BYTES = MAGIC.length + NONCE_BYTES;
export const CLIENT_PROOF_BYTES = NONCE_BYTES + PROOF_BYTES;
export const SERVER_PROOF_BYTES = PROOF_BYTES;

/** The link key of one secret. */
export function linkKey(secret: string | KeyObject): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, SALT, 'peer link', 32));
}

function proof(key: Buffer, side: 'client' | 'server', serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(side).update(serverNonce).update(clientNonce).digest();
}

// A KeyObject: createCipheriv takes it as it is, where a Buffer key is checked and copied per frame.
function frameKey(key: Buffer, serverNonce: Buffer, clientNonce: Buffer, direction: string): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', key, Buffer.concat([serverNonce, clientNonce]), direction, 32)));
}

/** The keys of one connection's frames, per direction. */
export interface FrameKeys {
  send: KeyObject;
  receive: KeyObject;
}

/** The endpoint's greeting and its nonce. */
export function hello(): { message: Buffer; nonce: Buffer } {
  const nonce = randomBytes(NONCE_BYTES);
  return { message: Buffer.concat([MAGIC, nonce]), nonce };
}

/** The client's answer to `helloMessage`, the proof it expects back, and its frame keys; undefined when it is no HELLO. */
export function answerHello(key: Buffer, helloMessage: Buffer): { message: Buffer; expected: Buffer; keys: FrameKeys } | undefined {
  if (!helloMessage.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const serverNonce = helloMessage.subarray(MAGIC.length, HELLO_BYTES);
  const clientNonce = randomBytes(NONCE_BYTES);
  return {
    message: Buffer.concat([clientNonce, proof(key, 'client', serverNonce, clientNonce)]),
    expected: proof(key, 'server', serverNonce, clientNonce),
    keys: { send: frameKey(key, serverNonce, clientNonce, 'client to server'), receive: frameKey(key, serverNonce, clientNonce, 'server to client') },
  };
}

/** The endpoint's check of a client's answer against every link key: its proof and frame keys, or undefined (refused). */
export function checkAnswer(keys: readonly Buffer[], serverNonce: Buffer, answer: Buffer): { message: Buffer; keys: FrameKeys } | undefined {
  const clientNonce = answer.subarray(0, NONCE_BYTES);
  const claimed = answer.subarray(NONCE_BYTES, CLIENT_PROOF_BYTES);
  for (const key of keys) {
    if (!timingSafeEqual(proof(key, 'client', serverNonce, clientNonce), claimed)) continue;
    return {
      message: proof(key, 'server', serverNonce, clientNonce),
      keys: { send: frameKey(key, serverNonce, clientNonce, 'server to client'), receive: frameKey(key, serverNonce, clientNonce, 'client to server') },
    };
  }
  return undefined;
}

/** Bytes received and not yet consumed, in the chunks they came in (joined only when a message is complete). */
export class Incoming {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  get available(): number {
    return this.length;
  }

  /** The first `count` bytes, removed; undefined until that many arrived. */
  take(count: number): Buffer | undefined {
    if (this.length < count) return undefined;
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
    const rest = all.subarray(count);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return all.subarray(0, count);
  }

  /** The u32 at the front without consuming it; undefined until four bytes arrived. */
  peekLength(): number | undefined {
    if (this.length < 4) return undefined;
    if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0].readUInt32BE(0);
  }
}

/** A frame that cannot be opened, or is larger than allowed: the connection is closed. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Writes frame number `n` into `nonce` (a number: exact up to 2^53 frames, where a bigint would allocate per frame). */
function numberNonce(nonce: Buffer, n: number): void {
  nonce.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 4);
  nonce.writeUInt32BE(n >>> 0, 8);
}

/**
 * Sealed frames over one authenticated connection, both directions. Messages queued together
 * leave in one frame (one seal, one open, one socket write for all of them), up to
 * COALESCE_BYTES; a larger message goes alone. A frame is at most one message of `maxBody`
 * bytes; a declared length over that is refused before anything is allocated for it.
 */
export class FrameChannel {
  private sent = 0;
  private received = 0;
  // Each direction's nonce: 4 zero bytes and the frame's number as a u64 (createCipheriv copies it at once).
  private readonly sendNonce = Buffer.alloc(12);
  private readonly receiveNonce = Buffer.alloc(12);
  /** Messages queued for the next frame, and their bytes with their length prefixes. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private readonly coalesceBytes: number;

  constructor(
    private readonly socket: Socket,
    private readonly keys: FrameKeys,
    private readonly maxBody: number,
  ) {
    // A peer's maxBody is normally this process's: never more than that in one frame either.
    this.coalesceBytes = Math.min(COALESCE_BYTES, maxBody + PREFIX_BYTES);
  }

  /** Queues a message for the next frame; a frame that is full (or would overflow with it) is sealed at once. */
  queue(message: Buffer): void {
    if (this.batchBytes > 0 && this.batchBytes + PREFIX_BYTES + message.length > this.coalesceBytes) this.flush();
    this.batch.push(message);
    this.batchBytes += PREFIX_BYTES + message.length;
    if (this.batchBytes >= this.coalesceBytes) this.flush();
  }

  /** Seals the queued messages into one frame and writes it; nothing when none are queued. */
  flush(): void {
    if (this.batchBytes === 0) return;
    const plain = this.batchBytes;
    // The messages are laid out in the frame buffer, then overwritten by their ciphertext (as long).
    const frame = Buffer.allocUnsafe(4 + plain + TAG_BYTES);
    frame.writeUInt32BE(plain + TAG_BYTES, 0);
    let offset = 4;
    for (const message of this.batch) {
      frame.writeUInt32BE(message.length, offset);
      message.copy(frame, offset + PREFIX_BYTES);
      offset += PREFIX_BYTES + message.length;
    }
    this.batch = [];
    this.batchBytes = 0;
    numberNonce(this.sendNonce, this.sent++);
    const cipher = createCipheriv('aes-256-gcm', this.keys.send, this.sendNonce);
    cipher.update(frame.subarray(4, 4 + plain)).copy(frame, 4);
    cipher.final();
    cipher.getAuthTag().copy(frame, 4 + plain);
    this.socket.write(frame);
  }

  /**
   * Opens every complete frame in `incoming`, in order, and yields its messages; throws FrameError
   * on the first bad frame, before yielding any of its messages.
   */
  *messages(incoming: Incoming): Generator<Buffer> {
    for (;;) {
      const length = incoming.peekLength();
      if (length === undefined) return;
      if (length < PREFIX_BYTES + TAG_BYTES || length > PREFIX_BYTES + this.maxBody + TAG_BYTES) throw new FrameError(`frame of ${length} bytes out of bounds`);
      if (incoming.available < 4 + length) return;
      const frame = incoming.take(4 + length)!;
      numberNonce(this.receiveNonce, this.received++);
      const decipher = createDecipheriv('aes-256-gcm', this.keys.receive, this.receiveNonce);
      decipher.setAuthTag(frame.subarray(4 + length - TAG_BYTES));
      // GCM's final() yields no bytes: it only checks the tag.
      const plain = decipher.update(frame.subarray(4, 4 + length - TAG_BYTES));
      try {
        decipher.final();
      } catch {
        throw new FrameError('frame failed authentication');
      }
      const messages: Buffer[] = [];
      for (let offset = 0; offset < plain.length; ) {
        const end = plain.length - offset < PREFIX_BYTES ? Infinity : offset + PREFIX_BYTES + plain.readUInt32BE(offset);
        if (end > plain.length) throw new FrameError('message length out of its frame');
        messages.push(plain.subarray(offset + PREFIX_BYTES, end));
        offset = end;
      }
      yield* messages;
    }
  }
}
