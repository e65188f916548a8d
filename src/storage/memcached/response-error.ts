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
