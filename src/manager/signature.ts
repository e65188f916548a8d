import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 of `value`, base64 without padding: the express-session / cookie-signature format. */
function mac(value: string, secret: string): string {
  return createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '');
}

/** Signs a session id as `<id>.<signature>`. */
export function sign(value: string, secret: string): string {
  return `${value}.${mac(value, secret)}`;
}

/**
 * Verifies `<id>.<signature>` against every secret (the first signs, all verify, for rotation).
 * Returns the id, or `false` when no secret matches. The comparison is constant-time.
 */
export function unsign(signed: string, secrets: readonly string[]): string | false {
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
