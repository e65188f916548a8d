import { ServerResponse, type OutgoingHttpHeaders } from 'node:http';

/** Whether `res` is a real response we can hook (socket.io passes a bare object). */
export function isHookable(res: unknown): res is ServerResponse {
  // instanceof first: it reads no property of the response.
  if (res instanceof ServerResponse) return true;
  const r = res as Partial<ServerResponse> | null;
  return !!r && typeof r.writeHead === 'function' && typeof r.end === 'function' && typeof r.setHeader === 'function';
}

/** What a hooked response calls back into (one object per request, see `hookResponse`). */
export interface ResponseListener {
  /** Just before the headers are written: the listener can still set headers and the status. */
  beforeHeaders(): void;
  /**
   * The response's `end` was called: returns what the end must wait for, or undefined when
   * there is nothing to wait for (then the response ends at once). Reports failure by rejecting, never by throwing.
   */
  beforeEnd(): Promise<void> | undefined;
  /** What `beforeEnd` returned failed; the error handler answers if nothing was sent yet. */
  endFailed(err: unknown): void;
  /** The response's `end` has run (or was abandoned to the error handler). */
  ended(): void;
  /** The response completed or its connection closed (at least once, maybe twice; only if asked for). */
  done(): void;
}

type WriteHead = (this: ServerResponse, statusCode: number, reason?: unknown, headers?: unknown) => ServerResponse;
type End = (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) => ServerResponse;

/**
 * A hooked response's own state: the original methods and what has happened so far. A class, not
 * a literal: see LoadedSession in mode.ts (a hook points at everything its request uses).
 */
class Hook {
  headersFired = false;
  endCalled = false;
  /** Settles once the first `end` has ended the response (true) or left it to the error handler (false). */
  ending: Promise<boolean> | undefined = undefined;
  /** While the first `end` waits with nothing sent: the response's own methods that `lock` replaced. */
  locked: LockedMethods | undefined = undefined;
  constructor(
    readonly listener: ResponseListener,
    readonly writeHead: WriteHead,
    readonly end: End,
    readonly write: (this: ServerResponse, chunk: Buffer) => boolean,
  ) {}
}

/** Headers that describe the body of a response that is discarded in favour of an error. */
const BODY_HEADERS = ['Content-Length', 'Content-Type', 'ETag', 'Content-Encoding'];

/**
 * Hooks `res` for `listener`: `beforeHeaders` runs once just before the headers are written
 * (headers passed to `writeHead` are applied first, as if set with `setHeader`), and the end of
 * the response waits for `beforeEnd`, so a client never sees a complete response before its
 * session is stored. If nothing was sent yet, the whole response waits, and when the work fails
 * the response is abandoned and the error goes to `endFailed` (the error handler answers
 * instead). If headers were already sent (a streamed body), only the last byte waits and the
 * error is reported after. With `notifyDone`, `done` is called when the response completes or
 * its connection closes.
 *
 * Only the two methods are added to the response; the rest of the hook's state is its own object.
 */
export function hookResponse(res: ServerResponse, listener: ResponseListener, notifyDone: boolean): void {
  const hook = new Hook(listener, res.writeHead as WriteHead, res.end as End, res.write as Hook['write']);
  // Two small closures carry the state: a property or WeakMap entry per response costs more (see above).
  res.writeHead = function writeHead(this: ServerResponse, statusCode: number, reason?: unknown, headers?: unknown) {
    return hookedWriteHead(this, hook, statusCode, reason, headers);
  } as ServerResponse['writeHead'];
  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
    return hookedEnd(this, hook, chunk, encoding, callback);
  } as ServerResponse['end'];
  if (notifyDone) {
    const done = () => listener.done();
    res.on('finish', done);
    res.on('close', done);
  }
}

function hookedWriteHead(res: ServerResponse, hook: Hook, statusCode: number, reason?: unknown, headers?: unknown): ServerResponse {
  if (hook.locked) throw headersSent('write');
  if (!hook.headersFired) {
    hook.headersFired = true;
    const given = (typeof reason === 'string' ? headers : reason) as OutgoingHttpHeaders | unknown[] | undefined;
    if (given && !Array.isArray(given)) {
      for (const name in given) {
        const value = given[name];
        if (value !== undefined && Object.prototype.hasOwnProperty.call(given, name)) res.setHeader(name, value);
      }
      if (typeof reason === 'string') headers = undefined;
      else reason = undefined;
    }
    res.statusCode = statusCode;
    hook.listener.beforeHeaders();
    statusCode = res.statusCode;
  }
  return hook.writeHead.call(res, statusCode, reason, headers);
}

function hookedEnd(res: ServerResponse, hook: Hook, chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse {
  const { end, listener } = hook;
  if (hook.endCalled) {
    // A second call behaves as without this hook (Node reports it as a write after end),
    // but only once the first call has really ended the response.
    if (!hook.ending) return end.call(res, chunk, encoding, callback);
    void hook.ending.then((ended) => ended && end.call(res, chunk, encoding, callback));
    return res;
  }
  hook.endCalled = true;
  if (typeof chunk === 'function') [chunk, callback] = [undefined, chunk];
  else if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding];
  const pending = listener.beforeEnd();
  if (!pending) return endNow(res, hook, chunk, encoding, callback);

  if (!res.headersSent) {
    lock(res, hook);
    hook.ending = pending.then(
      () => (endNow(res, hook, chunk, encoding, callback), true),
      (err: unknown) => {
        // Nothing was sent: hand the response to the error handler untouched.
        unlock(res, hook);
        res.end = end as ServerResponse['end'];
        for (const name of BODY_HEADERS) res.removeHeader(name);
        listener.ended();
        listener.endFailed(err);
        return false;
      },
    );
    return res;
  }

  let last: Buffer | undefined;
  if (chunk !== undefined && chunk !== null) {
    const body = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, encoding as BufferEncoding);
    if (body.length > 1) hook.write.call(res, body.subarray(0, body.length - 1));
    if (body.length > 0) last = body.subarray(body.length - 1);
  }
  // Headers were sent: the last byte goes out either way, and a failure is reported after it.
  hook.ending = pending.then(
    () => (endNow(res, hook, last, undefined, callback), true),
    (err: unknown) => {
      endNow(res, hook, last, undefined, callback);
      listener.endFailed(err);
      return true;
    },
  );
  return res;
}

/** Ends the response with the original `end`, then tells the listener. */
function endNow(res: ServerResponse, hook: Hook, chunk: unknown, encoding: unknown, callback: unknown): ServerResponse {
  unlock(res, hook);
  const result = hook.end.call(res, chunk, encoding, callback);
  hook.listener.ended();
  return result;
}

/** What Node throws when headers are changed after the response's `end` (it names the verb). */
function headersSent(verb: 'set' | 'append' | 'remove' | 'write'): Error {
  return Object.assign(new Error(`Cannot ${verb} headers after they are sent to the client`), { code: 'ERR_HTTP_HEADERS_SENT' });
}

/** Response methods `lock` replaces, and what each does meanwhile: Node's answer after `end`. */
const LOCKED_METHODS = {
  setHeader: () => {
    throw headersSent('set');
  },
  setHeaders: () => {
    throw headersSent('set');
  },
  appendHeader: () => {
    throw headersSent('append');
  },
  removeHeader: () => {
    throw headersSent('remove');
  },
  // After `end`, Node has already sent the headers: flushing them again does nothing.
  flushHeaders: () => undefined,
} as const;
const LOCKED_NAMES = [...Object.keys(LOCKED_METHODS), 'write'] as const;

/** The methods a lock replaced, as the response had them (its own, or its prototype's). */
type LockedMethods = Array<unknown>;

/**
 * While the first `end` waits for the session with nothing sent, the application sees the response
 * as Node shows an ended one: header changes throw ERR_HTTP_HEADERS_SENT, and a `write` waits for
 * the response to end and then gets Node's own write-after-end error. Without this, headers set
 * after `end` would change the response about to be sent (a wrong Content-Length truncates it).
 */
function lock(res: ServerResponse, hook: Hook): void {
  const target = res as unknown as Record<string, unknown>;
  hook.locked = LOCKED_NAMES.map((name) => target[name]);
  Object.assign(target, LOCKED_METHODS);
  const write = res.write;
  target.write = (...args: unknown[]) => {
    void hook.ending!.then((ended) => ended && (write as (...a: unknown[]) => boolean).apply(res, args));
    return false;
  };
}

/** Gives the response back its own methods, before it ends or goes to the error handler. */
function unlock(res: ServerResponse, hook: Hook): void {
  const locked = hook.locked;
  if (!locked) return;
  hook.locked = undefined;
  const target = res as unknown as Record<string, unknown>;
  // Assigned back, not deleted: deleting a property turns the response into a dictionary-mode
  // object, and every property access in the rest of its response (Node's and the app's) slower.
  LOCKED_NAMES.forEach((name, i) => (target[name] = locked[i]));
}
