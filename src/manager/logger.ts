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
