import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';

/** Whether `res` is a real response we can hook (socket.io passes a bare object). */
export function isHookable(res: unknown): res is ServerResponse {
  const r = res as Partial<ServerResponse> | null;
  return !!r && typeof r.writeHead === 'function' && typeof r.end === 'function' && typeof r.setHeader === 'function';
}

/**
 * Runs `listener` once, just before the response headers are written, so it can still set
 * headers. Headers passed to `writeHead` are applied first, as if set with `setHeader`.
 */
export function beforeHeaders(res: ServerResponse, listener: () => void): void {
  const writeHead = res.writeHead;
  let fired = false;
  res.writeHead = function hookedWriteHead(this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    if (!fired) {
      fired = true;
      const headers = (typeof rest[0] === 'string' ? rest[1] : rest[0]) as OutgoingHttpHeaders | unknown[] | undefined;
      if (headers && !Array.isArray(headers)) {
        for (const [name, value] of Object.entries(headers)) if (value !== undefined) this.setHeader(name, value);
        rest = typeof rest[0] === 'string' ? [rest[0]] : [];
      }
      this.statusCode = statusCode;
      listener();
      statusCode = this.statusCode;
    }
    return (writeHead as (...args: unknown[]) => ServerResponse).call(this, statusCode, ...rest);
  } as ServerResponse['writeHead'];
}

type EndArgs = [chunk?: unknown, encoding?: BufferEncoding, callback?: () => void];

/** Headers that describe the body of a response that is discarded in favour of an error. */
const BODY_HEADERS = ['Content-Length', 'Content-Type', 'ETag', 'Content-Encoding'];

/**
 * Defers the end of a response until `work()` settles (`work` returns undefined when there is
 * nothing to wait for), so a client never sees a complete response before its session is stored.
 * If nothing was sent yet, the whole response waits, and when the work fails the response is
 * abandoned and the error goes to `onError` (the error handler answers instead). If headers
 * were already sent (a streamed body), only the last byte waits and the error is reported after.
 */
export function holdEnd(
  res: ServerResponse,
  work: () => Promise<void> | undefined,
  onError: (err: unknown) => void,
  ended: () => void = () => undefined,
): void {
  const end = res.end;
  const write = res.write as (chunk: Buffer) => boolean;
  let done = false;
  /** Settles once the first `end` has ended the response (true) or left it to the error handler (false). */
  let ending: Promise<boolean> | undefined;
  res.end = function hookedEnd(this: ServerResponse, ...args: unknown[]) {
    if (done) {
      // A second call behaves as without this hook (Node reports it as a write after end),
      // but only once the first call has really ended the response.
      if (!ending) return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
      void ending.then((ended) => ended && (end as (...a: unknown[]) => ServerResponse).apply(this, args));
      return this;
    }
    done = true;
    let [chunk, encoding, callback] = args as EndArgs;
    if (typeof chunk === 'function') [chunk, callback] = [undefined, chunk as () => void];
    else if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding as () => void];
    const pending = work();
    if (!pending) {
      const result = end.call(this, chunk, encoding as BufferEncoding, callback);
      ended();
      return result;
    }

    if (!this.headersSent) {
      ending = pending.then(
        () => {
          end.call(this, chunk, encoding as BufferEncoding, callback);
          ended();
          return true;
        },
        (err: unknown) => {
          // Nothing was sent: hand the response to the error handler untouched.
          this.end = end;
          for (const name of BODY_HEADERS) this.removeHeader(name);
          ended();
          onError(err);
          return false;
        },
      );
      return this;
    }

    let last: Buffer | undefined;
    if (chunk !== undefined && chunk !== null) {
      const body = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, encoding);
      if (body.length > 1) write.call(this, body.subarray(0, body.length - 1));
      if (body.length > 0) last = body.subarray(body.length - 1);
    }
    ending = pending.then(
      () => {
        end.call(this, last, undefined as never, callback);
        ended();
        return true;
      },
      (err: unknown) => {
        end.call(this, last, undefined as never, callback);
        ended();
        onError(err);
        return true;
      },
    );
    return this;
  } as ServerResponse['end'];
}
