/**
 * The longest lifetime stored, in seconds: 10 years. A longer one (a cookie.maxAge of 100 years)
 * is stored as 10 years from the session's last use: memcached's expiration field holds absolute
 * times up to 2^32-1 only, and stored copies record lifetimes in a fixed number of digits.
 */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 60 * 60;

/** `seconds` capped at MAX_LIFETIME_SECONDS; non-finite and non-positive values (never expires) pass unchanged. */
export function cappedLifetime(seconds: number): number {
  return seconds > MAX_LIFETIME_SECONDS && Number.isFinite(seconds) ? MAX_LIFETIME_SECONDS : seconds;
}
