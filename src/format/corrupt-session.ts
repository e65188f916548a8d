import { logEvent, type Logger } from '../base/logger.js';
import type { Statistics } from '../base/statistics.js';

/**
 * Reports stored data that is not a usable session, the same way in both modes: counted in
 * `corruptSessions` and logged as event `corrupt_session`, naming the session by its key's
 * fingerprint (never its id). Callers delete the data, so each bad item is reported once and
 * the user gets a fresh session instead of an error.
 */
export function reportCorruptSession(logger: Logger, stats: Statistics, fingerprint: string, reason: string): void {
  stats.inc('corruptSessions');
  logEvent(
    logger,
    'warn',
    { event: 'corrupt_session', session: fingerprint, reason },
    `stored session ${fingerprint} is corrupt (${reason}); deleted, starting a new session`,
  );
}

/** Why a read found copies it cannot use: sealing refuses anything not sealed under the key with a listed secret. */
export function unusableCopies(nodes: readonly string[]): string {
  return `not a session copy sealed under its key (forged, altered, moved from another key, or sealed with a secret no longer listed) on node(s) ${nodes.join(', ')}`;
}
