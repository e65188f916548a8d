import { NodeAnswerError, NodeAuthError, NodeConnectionError } from '../call-fault.js';

/** memcached binary protocol status codes this package acts on. */
export const STATUS = { ok: 0x0000, notFound: 0x0001, exists: 0x0002, tooLarge: 0x0003, invalid: 0x0004, notStored: 0x0005 } as const;

const MESSAGES: Record<number, string> = {
  [STATUS.notFound]: 'Key not found',
  [STATUS.exists]: 'Key exists',
  [STATUS.tooLarge]: 'Value too large',
  [STATUS.invalid]: 'Invalid arguments',
  [STATUS.notStored]: 'Item not stored',
};

/** memcached answered with an error status (invalid arguments, value too large, ...): never the node's fault. */
export class MemcachedResponseError extends NodeAnswerError {
  readonly code = 'EMEMCACHEDRESPONSE';
  constructor(
    readonly status: number,
    node: string,
    op: string,
  ) {
    super(`memcached ${node} ${op}: answered "${MESSAGES[status] ?? `status 0x${status.toString(16)}`}"`, node, status === STATUS.tooLarge);
    this.name = 'MemcachedResponseError';
  }
}

/** A memcached node refused this app's SASL credentials, or asked for credentials and none are configured. */
export class MemcachedAuthError extends NodeAuthError {
  override readonly code = 'EMEMCACHEDAUTH';
  constructor(node: string, what: string, cause: unknown, username: string | undefined) {
    super(`memcached ${node}`, what, cause);
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
  return cause === MEMJS_AUTH_FAILED ? new MemcachedAuthError(node, what, cause, username) : new NodeConnectionError(`memcached ${node}`, what, cause);
}
