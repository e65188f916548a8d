/** Minimal logger contract; `console` and pino loggers both satisfy it. */
export interface Logger {
  info(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

/** Prefixes messages so operators can grep for them. */
export function prefixed(logger: Logger): Logger {
  const tag = '[memcached-session-manager]';
  return {
    info: (message, ...rest) => logger.info(`${tag} ${message}`, ...rest),
    warn: (message, ...rest) => logger.warn(`${tag} ${message}`, ...rest),
    error: (message, ...rest) => logger.error(`${tag} ${message}`, ...rest),
  };
}

/**
 * Logs a repeated warning at most once per `intervalMs` per key, with how many were held back,
 * so a failing node produces one line per interval rather than one per request.
 */
export class ThrottledWarnings {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(key: string, message: string): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const extra = seen?.suppressed ? ` (${seen.suppressed} similar in the last ${Math.round((now - seen.at) / 1000)} s)` : '';
    this.last.set(key, { at: now, suppressed: 0 });
    this.logger.warn(message + extra);
  }
}
