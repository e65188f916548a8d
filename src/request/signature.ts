import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/** A signing secret as `createHmac` takes it: a string (its UTF-8 bytes) or a secret key's bytes. */
export type SigningKey = string | KeyObject;

/** HMAC-SHA256 of `value`, base64 without padding: the express-session / cookie-signature format. */
function mac(value: string, secret: SigningKey): string {
  return createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '');
}

/** Signs a session id as `<id>.<signature>`. */
export function sign(value: string, secret: SigningKey): string {
  return `${value}.${mac(value, secret)}`;
}

/**
 * Verifies `<id>.<signature>` against every secret (the first signs, all verify, for rotation).
 * Returns the id, or `false` when no secret matches. The comparison is constant-time.
 */
export function unsign(signed: string, secrets: readonly SigningKey[]): string | false {
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return false;
  const value = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1));
  for (const secret of secrets) {
    const expected = Buffer.from(mac(value, secret));
    // Length is fixed for a given digest, so checking it first leaks nothing about the secret.
    if (expected.length === given.length && timingSafeEqual(expected, given)) return value;
  }
  return false;
}

/**
 * `unsign` with a bounded memory of signed values already verified against one list of secrets,
 * so a returning cookie costs a map lookup instead of an HMAC. Only successes are remembered and
 * the whole signed value is the key: a forged or unknown value always misses and is verified for
 * real. When full, the memory starts over (cheaper than LRU bookkeeping on every hit).
 */
export class VerifiedCookies {
  private readonly verified = new Map<string, string>();

  constructor(
    private readonly secrets: readonly SigningKey[],
    private readonly capacity = 10_000,
  ) {}

  unsign(signed: string): string | false {
    const known = this.verified.get(signed);
    if (known !== undefined) return known;
    const value = unsign(signed, this.secrets);
    if (value === false) return false;
    if (this.verified.size >= this.capacity) this.verified.clear();
    this.verified.set(signed, value);
    return value;
  }
}

/**
 * `sign` with one secret and a bounded memory of the values already signed, so the Set-Cookie of
 * a returning session (sent again whenever it changes, or on every request with `rolling`) costs
 * a map lookup instead of an HMAC. Signing is deterministic: a remembered signature
 * is the one computing it gives. When full, the memory starts over.
 */
export class SignedValues {
  private readonly signed = new Map<string, string>();

  constructor(
    private readonly secret: SigningKey,
    private readonly capacity = 10_000,
  ) {}

  sign(value: string): string {
    const known = this.signed.get(value);
    if (known !== undefined) return known;
    const signed = sign(value, this.secret);
    if (this.signed.size >= this.capacity) this.signed.clear();
    this.signed.set(value, signed);
    return signed;
  }
}
