import { MAX_LIFETIME_SECONDS } from '../../base/lifetime.js';

/** memcached treats expirations above 30 days as absolute Unix times. */
export const RELATIVE_EXPIRATION_LIMIT = 60 * 60 * 24 * 30;

/** The latest absolute expiration memcached's 32-bit field can carry. */
const MAX_ABSOLUTE_EXPIRATION = 2 ** 32 - 1;

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
