import { logEvent, type Logger } from '../manager/logger.js';
import type { Statistics } from '../manager/statistics.js';

/**
 * Reports stored data that is not a usable session, the same way in both modes: counted in
 * `corruptSessions` and logged as event `corrupt_session`. Callers delete the data, so each bad
 * item is reported once and the user gets a fresh session instead of an error.
 */
export function reportCorruptSession(logger: Logger, stats: Statistics, key: string, reason: string): void {
  stats.inc('corruptSessions');
  logEvent(
    logger,
    'warn',
    { event: 'corrupt_session', key, reason },
    `stored session ${key} is corrupt (${reason}); deleted, starting a new session`,
  );
}
