import { SessionStoreUnavailableError } from '../../base/errors.js';

/** A request's session work would pass requestDeadline: it answers 503, and nothing was written. */
export class RequestDeadlineError extends SessionStoreUnavailableError {
  constructor(deadline: number) {
    super(`the request's session work did not finish within requestDeadline (${deadline} ms); nothing was written`);
    this.name = 'RequestDeadlineError';
  }
}

/**
 * Settles like `work` if it settles within `ms`, else rejects with RequestDeadlineError(`deadline`);
 * a value `work` yields after that goes to `late` (a lock had too late is released).
 */
export function withinDeadline<T>(work: Promise<T>, ms: number, deadline: number, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new RequestDeadlineError(deadline));
    }, Math.max(0, ms));
    work.then(
      (value) => {
        if (expired) return late?.(value);
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (expired) return;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Resolves when `work` settles or `ms` passed, whichever comes first (`work` goes on). */
export function waitAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}
