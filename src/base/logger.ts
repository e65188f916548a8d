/** Minimal logger contract; `console` and pino loggers both satisfy it. */
export interface Logger {
  info(message: unknown, ...rest: unknown[]): void;
  warn(message: unknown, ...rest: unknown[]): void;
  error(message: unknown, ...rest: unknown[]): void;
}

/** Fields of a structured event: `event` names it (e.g. `memcached_node_down`). */
export interface LogFields {
  event: string;
  [field: string]: unknown;
}

/** Logs one structured event, pino style: `logger.warn({ event, ... }, message)`. */
export function logEvent(logger: Logger, level: keyof Logger, fields: LogFields, message: string): void {
  logger[level](fields, message);
}

/** The default logger: `console`, printing the message of a structured event (its fields are for pino). */
export const consoleLogger: Logger = {
  info: (first, ...rest) => console.info(...(typeof first === 'string' ? [first, ...rest] : rest)),
  warn: (first, ...rest) => console.warn(...(typeof first === 'string' ? [first, ...rest] : rest)),
  error: (first, ...rest) => console.error(...(typeof first === 'string' ? [first, ...rest] : rest)),
};

/** The `event` of a message logged without fields, so every log line can be filtered by event. */
const GENERIC_EVENT: Record<keyof Logger, string> = { info: 'info', warn: 'warning', error: 'error' };

/**
 * Tags every message so operators can grep for them, in pino's `(fields, message)` form: a
 * message logged without fields gets `{ event: 'warning' }` (or `info`, `error`).
 */
export function prefixed(logger: Logger): Logger {
  const tag = '[memcached-session-manager]';
  const wrap =
    (level: keyof Logger) =>
    (first: unknown, ...rest: unknown[]) =>
      typeof first === 'string'
        ? logger[level]({ event: GENERIC_EVENT[level] }, `${tag} ${first}`, ...rest)
        : logger[level](first, ...rest.map((r, i) => (i === 0 && typeof r === 'string' ? `${tag} ${r}` : r)));
  return { info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
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

  warn(key: string, fields: LogFields, message: string): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const extra = seen?.suppressed ? ` (${seen.suppressed} similar in the last ${Math.round((now - seen.at) / 1000)} s)` : '';
    this.last.set(key, { at: now, suppressed: 0 });
    logEvent(this.logger, 'warn', seen?.suppressed ? { ...fields, suppressed: seen.suppressed } : fields, message + extra);
  }
}
