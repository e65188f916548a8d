/** memcached treats expirations above 30 days as absolute Unix times. */
export const RELATIVE_EXPIRATION_LIMIT = 60 * 60 * 24 * 30;

/**
 * The longest lifetime stored, in seconds: 10 years. A longer one (a cookie.maxAge of 100 years)
 * is stored as 10 years from the session's last use: memcached's expiration field holds absolute
 * times up to 2^32-1 only, and stored copies record lifetimes in a fixed number of digits.
 */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 60 * 60;

/** The latest absolute expiration memcached's 32-bit field can carry. */
const MAX_ABSOLUTE_EXPIRATION = 2 ** 32 - 1;

/** `seconds` capped at MAX_LIFETIME_SECONDS; non-finite and non-positive values (never expires) pass unchanged. */
export function cappedLifetime(seconds: number): number {
  return seconds > MAX_LIFETIME_SECONDS && Number.isFinite(seconds) ? MAX_LIFETIME_SECONDS : seconds;
}

/**
 * The expiration field to send memcached for an item that should live `ttlSeconds` more.
 * `ttlSeconds <= 0` or infinite means "never expires" (0); above 30 days it becomes an absolute
 * time. Capped at MAX_LIFETIME_SECONDS whatever its source (a stored copy's header included), so
 * the field always fits its 32 bits.
 */
export function memcachedExpiration(ttlSeconds: number, nowMs = Date.now()): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) return 0;
  const seconds = Math.ceil(Math.min(ttlSeconds, MAX_LIFETIME_SECONDS));
  if (seconds <= RELATIVE_EXPIRATION_LIMIT) return seconds;
  return Math.min(Math.floor(nowMs / 1000) + seconds, MAX_ABSOLUTE_EXPIRATION);
}
