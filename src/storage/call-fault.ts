import { DeadlineError } from '../base/deadline.js';

/**
 * The connection to a storage node failed while a call was outstanding: refused, reset, closed
 * or not authenticated. Keeps the cause's `code` (ECONNREFUSED, ...).
 */
export class NodeConnectionError extends Error {
  readonly code: string;
  constructor(node: string, what: string, cause: unknown) {
    super(`${node} ${what}: ${cause instanceof Error ? cause.message : 'connection failed'}`, { cause });
    this.name = 'NodeConnectionError';
    this.code = (cause as { code?: unknown } | undefined)?.code?.toString() ?? 'ECONNECTION';
  }
}

/**
 * A node refused this app's credentials, or asked for credentials and none are configured: a
 * connection failure that is a configuration error, reported loudly (see StorageCluster.credentialsRefused).
 */
export class NodeAuthError extends NodeConnectionError {}

/**
 * The node answered, with an error status (value too large, invalid arguments, not stored). The
 * node is up: the request was at fault.
 */
export class NodeAnswerError extends Error {
  constructor(
    message: string,
    /** The node that answered. */
    readonly node: string,
    /** The answer was "value too large": the session outgrew what the node stores. */
    readonly tooLarge: boolean,
  ) {
    super(message);
    this.name = 'NodeAnswerError';
  }
}

/**
 * Whose fault a failed call to a storage node is, the one rule node health follows:
 * - `node`: the connection failed or the call missed its deadline; only these count against the node;
 * - `answered`: the node answered with an error status: the request's fault, and proof that the node is up;
 * - `request`: anything else, such as a RangeError or TypeError thrown while building the request
 *   from its data; says nothing about the node.
 */
export function faultOf(err: unknown): 'node' | 'answered' | 'request' {
  if (err instanceof NodeConnectionError || err instanceof DeadlineError) return 'node';
  if (err instanceof NodeAnswerError) return 'answered';
  return 'request';
}
