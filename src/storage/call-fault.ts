import { DeadlineError } from '../base/deadline.js';
import { MemcachedResponseError } from './memcached/response-error.js';

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
 * A node refused this app's SASL credentials, or asked for credentials and none are configured: a
 * connection failure (memjs drops the connection) that is a configuration error, reported loudly
 * (see MemcachedCluster.credentialsRefused).
 */
export class MemcachedAuthError extends NodeConnectionError {
  override readonly code = 'EMEMCACHEDAUTH';
  constructor(node: string, what: string, cause: unknown, username: string | undefined) {
    super(node, what, cause);
    this.name = 'MemcachedAuthError';
    this.message =
      username === undefined
        ? `memcached ${node} requires SASL authentication: set the username and password options`
        : `memcached ${node} rejected the SASL credentials of user "${username}": check the username and password options`;
  }
}

/** How memjs reports a refused authentication: this string, not an Error. */
const MEMJS_AUTH_FAILED = 'Memcached server authentication failed!';

/** The error of a call whose connection failed with `cause`: MemcachedAuthError when memjs reports refused credentials. */
export function connectionError(node: string, what: string, cause: unknown, username: string | undefined): NodeConnectionError {
  return cause === MEMJS_AUTH_FAILED ? new MemcachedAuthError(node, what, cause, username) : new NodeConnectionError(node, what, cause);
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
