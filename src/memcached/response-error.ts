/** memcached binary protocol status codes this package acts on. */
export const STATUS = { ok: 0x0000, notFound: 0x0001, exists: 0x0002, tooLarge: 0x0003, invalid: 0x0004, notStored: 0x0005 } as const;

const MESSAGES: Record<number, string> = {
  [STATUS.notFound]: 'Key not found',
  [STATUS.exists]: 'Key exists',
  [STATUS.tooLarge]: 'Value too large',
  [STATUS.invalid]: 'Invalid arguments',
  [STATUS.notStored]: 'Item not stored',
};

/**
 * memcached answered, with an error status (invalid arguments, value too large, ...). The node
 * is healthy: the request was at fault, so this never counts against the node's health.
 */
export class MemcachedResponseError extends Error {
  readonly code = 'EMEMCACHEDRESPONSE';
  constructor(
    readonly status: number,
    readonly node: string,
    op: string,
  ) {
    super(`memcached ${node} ${op}: answered "${MESSAGES[status] ?? `status 0x${status.toString(16)}`}"`);
    this.name = 'MemcachedResponseError';
  }
}

/** Whether `err` is memcached refusing a value as larger than its item size limit (-I). */
export function isValueTooLarge(err: unknown): boolean {
  return err instanceof MemcachedResponseError && err.status === STATUS.tooLarge;
}

/**
 * memcached refused this app's SASL credentials, or asked for credentials and none are configured:
 * a configuration error, reported loudly (see MemcachedCluster.credentialsRefused).
 */
export class MemcachedAuthError extends Error {
  readonly code = 'EMEMCACHEDAUTH';
  constructor(
    readonly node: string,
    username: string | undefined,
  ) {
    super(
      username === undefined
        ? `memcached ${node} requires SASL authentication: set the username and password options`
        : `memcached ${node} rejected the SASL credentials of user "${username}": check the username and password options`,
    );
    this.name = 'MemcachedAuthError';
  }
}

/** How memjs reports a refused authentication: this string, not an Error. */
const MEMJS_AUTH_FAILED = 'Memcached server authentication failed!';

/** `err` as a MemcachedAuthError when it is memjs reporting a refused authentication, else as it is. */
export function authAware(err: unknown, node: string, username: string | undefined): unknown {
  return err === MEMJS_AUTH_FAILED ? new MemcachedAuthError(node, username) : err;
}
