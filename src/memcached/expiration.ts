/** memcached treats expirations above 30 days as absolute Unix times. */
export const RELATIVE_EXPIRATION_LIMIT = 60 * 60 * 24 * 30;

/**
 * The expiration field to send memcached for an item that should live `ttlSeconds` more.
 * `ttlSeconds <= 0` or infinite means "never expires" (0); above 30 days it becomes an absolute time.
 */
export function memcachedExpiration(ttlSeconds: number, nowMs = Date.now()): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) return 0;
  const seconds = Math.ceil(ttlSeconds);
  if (seconds <= RELATIVE_EXPIRATION_LIMIT) return seconds;
  return Math.floor(nowMs / 1000) + seconds;
}
