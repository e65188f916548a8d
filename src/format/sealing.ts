import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto';

/** HKDF salt: keys derived here never equal keys another program derives from the same secret. */
const SALT = 'memcached-session-manager sealing v1';
/** First byte of a sealed value: its content encrypted, or only authenticated (`encryptSessions: false`). */
const ENCRYPTED = 0xe5;
const AUTHENTICATED = 0xa5;
const KEY_ID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES;
/** A session key after the prefix: the keyed hash alone (43 base64url characters). */
const SESSION_KEY_HASH = /^[A-Za-z0-9_-]{43}$/;
/** Bytes a sealed value adds to what it seals. */
export const SEAL_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;
/** Random bytes drawn from the CSPRNG at once for nonces: one randomBytes(12) call costs more than the seal's AES. */
const NONCE_POOL_BYTES = 4096;
/** Key names remembered per kind: a returning session's name costs a map lookup, not an HMAC. */
const NAMES_REMEMBERED = 10_000;

/** The keys derived from one secret. */
interface SecretKeys {
  /** HMAC key that turns session ids into memcached key names. */
  names: KeyObject;
  /** AES-256-GCM key of stored values. */
  values: KeyObject;
  /** Names the value key in each sealed value, so opening tries the right key first. */
  id: Buffer;
}

function derive(secret: string | KeyObject, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, SALT, purpose, 32));
}

function keysOf(secret: string | KeyObject): SecretKeys {
  return {
    names: createSecretKey(derive(secret, 'key names')),
    values: createSecretKey(derive(secret, 'value encryption')),
    id: derive(secret, 'value key id').subarray(0, KEY_ID_BYTES),
  };
}

/**
 * What memcached holds is never usable without the secret. Keys are keyed hashes of session ids
 * (HMAC-SHA256, base64url, after `storageKeyPrefix`), so listing memcached's keys reveals no id;
 * values are sealed with AES-256-GCM under a random 96-bit nonce, with the key they are stored
 * under as associated data, so a value rewritten, forged or copied under another key fails to
 * open. Keys are derived (HKDF-SHA256) from the `secret` option: the first secret names keys and
 * seals, every secret opens, so a secret can be retired once no copy sealed with it is in use.
 */
export class Sealing {
  private readonly keys: SecretKeys[];
  private readonly sessionKeys = new Map<string, string>();
  private readonly tombstoneKeys = new Map<string, string>();
  private readonly noncePool = Buffer.allocUnsafe(NONCE_POOL_BYTES);
  private nonceOffset = NONCE_POOL_BYTES;

  /**
   * @param secrets the `secret` option's list: the first is current, the others only open.
   * @param prefix `storageKeyPrefix`, kept in front of every key.
   * @param encrypt false: values are authenticated but their content stays readable (`encryptSessions: false`).
   */
  constructor(
    secrets: readonly (string | KeyObject)[],
    readonly prefix: string,
    private readonly encrypt = true,
  ) {
    this.keys = secrets.map(keysOf);
  }

  /** The memcached key of a session's copies. */
  sessionKey(id: string): string {
    return remembered(this.sessionKeys, id, () => this.prefix + this.hash(this.keys[0], 's', id));
  }

  /** Whether `key` names a session's copies (under any secret of the list), not a tombstone or an index. */
  isSessionKey(key: string): boolean {
    return key.startsWith(this.prefix) && SESSION_KEY_HASH.test(key.slice(this.prefix.length));
  }

  /** Where copies of a session written under an older secret of the list are, newest secret first. */
  olderSessionKeys(id: string): string[] {
    return this.keys.slice(1).map((keys) => this.prefix + this.hash(keys, 's', id));
  }

  /** A session id's tombstone keys under the older secrets of the list (where their processes look). */
  olderTombstoneKeys(id: string): string[] {
    return this.keys.slice(1).map((keys) => `${this.prefix}revoked:${this.hash(keys, 'r', id)}`);
  }

  /** The memcached key of a session id's revocation tombstone (sticky mode). */
  tombstoneKey(id: string): string {
    return remembered(this.tombstoneKeys, id, () => `${this.prefix}revoked:${this.hash(this.keys[0], 'r', id)}`);
  }

  /** The memcached key of a principal's session index (a keyed hash: the principal is not readable in memcached). */
  principalKey(principal: string): string {
    return `${this.prefix}principal:${this.hash(this.keys[0], 'p', principal)}`;
  }

  /**
   * A short name of a key for logs and metrics: the start of its keyed hash, enough to tell
   * sessions apart and to find the item in memcached, useless as a session id.
   */
  fingerprint(key: string): string {
    return key.slice(this.prefix.length, this.prefix.length + 12);
  }

  private hash(keys: SecretKeys, kind: string, id: string): string {
    // The kind keeps the names of a session's copies and of its tombstone unrelated.
    return createHmac('sha256', keys.names).update(kind).update('\0').update(id).digest('base64url');
  }

  /** Seals `text` for storage under `key`. */
  seal(key: string, text: string | Buffer): Buffer {
    const keys = this.keys[0];
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header[0] = this.encrypt ? ENCRYPTED : AUTHENTICATED;
    keys.id.copy(header, 1);
    const nonce = this.nonce();
    const plain = typeof text === 'string' ? Buffer.from(text) : text;
    const cipher = createCipheriv('aes-256-gcm', keys.values, nonce);
    cipher.setAAD(associatedData(header, key, this.encrypt ? undefined : plain));
    const body = this.encrypt ? Buffer.concat([cipher.update(plain), cipher.final()]) : finalOnly(cipher, plain);
    return Buffer.concat([header, nonce, cipher.getAuthTag(), body]);
  }

  /** A fresh random nonce (each pool byte is used once). */
  private nonce(): Buffer {
    if (this.nonceOffset + NONCE_BYTES > NONCE_POOL_BYTES) {
      randomFillSync(this.noncePool);
      this.nonceOffset = 0;
    }
    return this.noncePool.subarray(this.nonceOffset, (this.nonceOffset += NONCE_BYTES));
  }

  /**
   * The text sealed under `key`, or undefined when `value` was not sealed under this key with one
   * of the secrets (forged, tampered with, copied from another key, or sealed with a secret no
   * longer listed). Either format opens, whatever `encryptSessions` is now.
   */
  open(key: string, value: Buffer): string | undefined {
    if (value.length < SEAL_OVERHEAD || (value[0] !== ENCRYPTED && value[0] !== AUTHENTICATED)) return undefined;
    const encrypted = value[0] === ENCRYPTED;
    const header = value.subarray(0, HEADER_BYTES);
    const nonce = value.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
    const tag = value.subarray(HEADER_BYTES + NONCE_BYTES, SEAL_OVERHEAD);
    const body = value.subarray(SEAL_OVERHEAD);
    for (const keys of this.keys) {
      if (!keys.id.equals(header.subarray(1))) continue;
      try {
        const decipher = createDecipheriv('aes-256-gcm', keys.values, nonce);
        decipher.setAAD(associatedData(header, key, encrypted ? undefined : body));
        decipher.setAuthTag(tag);
        const plain = encrypted ? Buffer.concat([decipher.update(body), decipher.final()]) : finalOnly(decipher, body);
        return plain.toString('utf8');
      } catch {
        // Not this key (ids of two secrets may collide): try the next.
      }
    }
    return undefined;
  }
}

/** `names`' entry for `id`, computed once; when full, the memory starts over (cheaper than LRU bookkeeping). */
function remembered(names: Map<string, string>, id: string, compute: () => string): string {
  let name = names.get(id);
  if (name === undefined) {
    if (names.size >= NAMES_REMEMBERED) names.clear();
    names.set(id, (name = compute()));
  }
  return name;
}

/** The header and the key, length-delimited, and the content itself when it is not encrypted. */
function associatedData(header: Buffer, key: string, content: Buffer | undefined): Buffer {
  const name = Buffer.from(key);
  const length = Buffer.allocUnsafe(2);
  length.writeUInt16BE(name.length);
  return Buffer.concat(content ? [header, length, name, content] : [header, length, name]);
}

/** Authenticates without encrypting: the content went into the associated data; returns it as it is. */
function finalOnly(cipher: { final(): Buffer }, content: Buffer): Buffer {
  cipher.final();
  return content;
}
