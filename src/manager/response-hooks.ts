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

/**
 * Defers the end of a response until `work()` settles. Everything but the body's last byte is
 * sent at once, so a client can never see a complete response before the session is stored.
 * `work` returns undefined when there is nothing to wait for.
 */
export function holdEnd(res: ServerResponse, work: () => Promise<void> | undefined, onError: (err: unknown) => void): void {
  const end = res.end;
  const write = res.write as (chunk: Buffer) => boolean;
  let ended = false;
  res.end = function hookedEnd(this: ServerResponse, ...args: unknown[]) {
    if (ended) return this;
    ended = true;
    let [chunk, encoding, callback] = args as EndArgs;
    if (typeof chunk === 'function') [chunk, callback] = [undefined, chunk as () => void];
    else if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding as () => void];
    const pending = work();
    if (!pending) return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, encoding, callback);

    if (!this.headersSent) (this as unknown as { _implicitHeader(): void })._implicitHeader();
    let last: Buffer | undefined;
    if (chunk !== undefined && chunk !== null) {
      const body = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, encoding);
      // With a Content-Length the body cannot be chunked, so keep its last byte back.
      const fixedLength = Number(this.getHeader('Content-Length')) > 0;
      if (fixedLength && body.length > 0) {
        last = body.subarray(body.length - 1);
        if (body.length > 1) write.call(this, body.subarray(0, body.length - 1));
      } else if (body.length > 0) {
        write.call(this, body);
      }
    }
    pending.then(
      () => end.call(this, last, undefined as never, callback),
      (err: unknown) => {
        end.call(this, last, undefined as never, callback);
        onError(err);
      },
    );
    return this;
  } as ServerResponse['end'];
}
