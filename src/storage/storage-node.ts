/**
 * What failover, the modes, locks and revocation need from one storage node, whatever the backend
 * (memcached today). Every call has a deadline and rejects with an error `faultOf` can classify
 * (see call-fault.ts): a failed connection or missed deadline is the node's fault, anything else
 * the request's.
 *
 * Lifetimes are seconds from now; 0 or less means "never expires". A backend caps what it cannot
 * hold (see MAX_LIFETIME_SECONDS). A version is opaque: it is only ever handed back to the same
 * node, and a node that restarted never accepts one handed out before.
 */
export interface StorageNode {
  /** The node's id in the configured list. */
  readonly id: string;
  /** The backend's name for messages ("memcached"). */
  readonly kind: string;
  /** The value, or null when absent. */
  get(key: string): Promise<Buffer | null>;
  /** The values of several keys (null where absent), in their order: one round trip where the backend allows. */
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>>;
  /** The value and its version, or null when absent. */
  gets(key: string): Promise<VersionedValue | null>;
  /** The value and its version, its lifetime reset to `ttlSeconds` in the same operation; null when absent. */
  getAndTouch(key: string, ttlSeconds: number): Promise<VersionedValue | null>;
  /**
   * Writes `value` only if the item is absent (`version` undefined) or still has `version`.
   * Resolves with the item's new version, or null when refused because it changed (or may have).
   */
  storeIf(key: string, value: Buffer | string, ttlSeconds: number, version: bigint | undefined): Promise<bigint | null>;
  /** Deletes the item only if it still has `version`; false when it changed or is gone. */
  deleteIf(key: string, version: bigint): Promise<boolean>;
  /** Writes unconditionally. */
  set(key: string, value: Buffer | string, ttlSeconds: number): Promise<void>;
  /** Writes only if absent; false when the key exists. */
  add(key: string, value: Buffer | string, ttlSeconds: number): Promise<boolean>;
  /** Resets an item's lifetime; false when the item is gone. */
  touch(key: string, ttlSeconds: number): Promise<boolean>;
  /** Deletes; false when the item was absent. */
  delete(key: string): Promise<boolean>;
  /** The process answering, a health check: a different answer means the node restarted (empty). */
  instance(): Promise<string>;
  /** Releases the connection. */
  close(): void;
}

/** A value read with its version. */
export interface VersionedValue {
  readonly value: Buffer;
  readonly cas: bigint;
}
