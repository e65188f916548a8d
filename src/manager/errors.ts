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
