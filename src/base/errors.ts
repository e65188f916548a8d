/** Thrown at startup for an invalid option; the message names the option. */
export class OptionError extends TypeError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`memcached-session-manager: option "${option}" ${reason}`);
    this.name = 'OptionError';
  }
}

/** The session store could not answer: the request fails with 503 instead of losing the session. */
export class SessionStoreUnavailableError extends Error {
  readonly status = 503;
  readonly statusCode = 503;
  readonly code = 'ESESSIONSTORE';
  constructor(message: string, cause?: unknown) {
    super(`session store unavailable: ${message}${cause instanceof Error ? ` (${cause.message})` : ''}`);
    this.name = 'SessionStoreUnavailableError';
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** A session lock could not be acquired in time (lockingMode with the default fail-closed policy). */
export class SessionLockTimeoutError extends Error {
  readonly status = 503;
  readonly statusCode = 503;
  readonly code = 'ESESSIONLOCK';
  constructor(waitedMs: number) {
    super(`session is locked by another request; gave up after ${waitedMs} ms (retry the request)`);
    this.name = 'SessionLockTimeoutError';
  }
}

/** A request lost its session lock and the session changed meanwhile: its update is refused, not merged. */
export class SessionConflictError extends Error {
  readonly status = 409;
  readonly statusCode = 409;
  readonly code = 'ESESSIONCONFLICT';
  constructor() {
    super('session was changed by another request while this one ran without its lock; the update was not saved');
    this.name = 'SessionConflictError';
  }
}
