import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';

/**
 * The package's trace points, as `node:diagnostics_channel` tracing channels (the pattern undici
 * and ioredis use): an APM, a log or the bench subscribes with
 * `diagnostics_channel.tracingChannel('memcached-session-manager:load').subscribe({ start, end, asyncStart, asyncEnd, error })`.
 * `start`/`end` bracket the synchronous part, `asyncStart`/`asyncEnd` a returned promise's
 * settling, `error` a failure (on `context.error`). With no subscriber a trace point costs one
 * property read. Contexts carry no session id and no session data.
 */
export const TRACE_CHANNELS = {
  /** Loading a session by its id. Context `{ req }`. */
  load: 'memcached-session-manager:load',
  /** Storing (or touching, or destroying) a session as its response ends, serialization included. Context `{ req, operation }`. */
  save: 'memcached-session-manager:save',
  /** One call to one storage node. Context `{ kind, node, operation }` ("memcached", "n1", "gets"). */
  storage: 'memcached-session-manager:storage',
} as const;

export type TraceContext = Record<string, unknown>;
type Channel = TracingChannel<unknown, TraceContext>;

export const loadTrace: Channel = tracingChannel(TRACE_CHANNELS.load);
export const saveTrace: Channel = tracingChannel(TRACE_CHANNELS.save);
export const storageTrace: Channel = tracingChannel(TRACE_CHANNELS.storage);

/**
 * Runs `work` inside `channel`'s trace when anyone listens; `work` may answer synchronously or
 * with a promise (a session held in memory loads without one), which TracingChannel's own
 * traceSync/tracePromise each cover only half of.
 */
export function traced<T>(channel: Channel, context: TraceContext, work: () => T): T {
  if (!channel.hasSubscribers) return work();
  channel.start.publish(context);
  try {
    const result = work();
    if (!(result instanceof Promise)) return result;
    return result.then(
      (value: unknown) => {
        channel.asyncStart.publish(context);
        channel.asyncEnd.publish(context);
        return value;
      },
      (err: unknown) => {
        context.error = err;
        channel.error.publish(context);
        channel.asyncStart.publish(context);
        channel.asyncEnd.publish(context);
        throw err;
      },
    ) as T;
  } catch (err) {
    context.error = err;
    channel.error.publish(context);
    throw err;
  } finally {
    channel.end.publish(context);
  }
}
