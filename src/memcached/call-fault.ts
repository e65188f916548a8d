import { DeadlineError } from './deadline.js';
import { MemcachedResponseError } from './response-error.js';

/**
 * The connection to a memcached node failed while a call was outstanding: refused, reset, closed
 * or not authenticated. Keeps the cause's `code` (ECONNREFUSED, ...).
 */
export class NodeConnectionError extends Error {
  readonly code: string;
  constructor(node: string, what: string, cause: unknown) {
    super(`memcached ${node} ${what}: ${cause instanceof Error ? cause.message : 'connection failed'}`, { cause });
    this.name = 'NodeConnectionError';
    this.code = (cause as { code?: unknown } | undefined)?.code?.toString() ?? 'ECONNECTION';
  }
}

/**
 * Whose fault a failed call to a memcached node is, the one rule node health follows:
 * - `node`: the connection failed or the call missed its deadline; only these count against the node;
 * - `answered`: memcached answered with an error status (value too large, invalid arguments, not
 *   stored): the request's fault, and proof that the node is up;
 * - `request`: anything else, such as a RangeError or TypeError thrown while building the request
 *   from its data; says nothing about the node.
 */
export function faultOf(err: unknown): 'node' | 'answered' | 'request' {
  if (err instanceof NodeConnectionError || err instanceof DeadlineError) return 'node';
  if (err instanceof MemcachedResponseError) return 'answered';
  return 'request';
}
