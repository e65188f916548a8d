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
  /**
   * Applies a session copy's delta (format/copy-delta.ts) to the copy stored under `key`, where the
   * backend can (peers: the node opens, patches and seals the copy again); false when that copy is
   * not the delta's base (or is gone): then the writer stores the whole copy.
   */
  patchCopy?(key: string, delta: string, ttlSeconds: number): Promise<boolean>;
  /** Publish/subscribe, where the backend has it (Redis): see NodeMessages. */
  readonly messages?: NodeMessages;
}

/**
 * Messages between the processes that use one node (Redis pub/sub). A subscription receives what
 * is published while it lasts, in the node's order; what was published while it was down is lost,
 * which `onOpen` tells. Every call has a deadline.
 */
export interface NodeMessages {
  /** Publishes `message` on `channel`; resolves with how many subscriptions received it. */
  publish(channel: string, message: string): Promise<number>;
  /**
   * `storeIf` (without a lifetime) that, in the same atomic step, publishes `<order> <replyTo> <value>`
   * on `channel`, so every subscriber sees the writes of `key` in the order the node made them.
   * `order` is null when the write was refused (nothing published).
   */
  storeIfAndPublish(key: string, value: Buffer, version: bigint | undefined, channel: string, replyTo: string): Promise<PublishedWrite>;
  /**
   * Publishes `<tag> <order> <value>` on `channel`: `key`'s value and order (0 and no value when
   * absent) as they are at that point of the node's order. Resolves with how many subscriptions received it.
   */
  publishState(channel: string, tag: string, key: string): Promise<number>;
  /**
   * Keeps one subscription to `channels` open until the node is closed, opening it again when it
   * drops. `onOpen` runs each time it is (re)established: messages published before were missed.
   */
  subscribe(channels: readonly string[], listener: (channel: string, message: Buffer) => void, onOpen: () => void): void;
}

/** A write made by storeIfAndPublish. */
export interface PublishedWrite {
  /** Its place in the node's order of writes; null: refused. */
  readonly order: bigint | null;
  /** How many subscriptions received its message. */
  readonly receivers: number;
}

/** A value read with its version. */
export interface VersionedValue {
  readonly value: Buffer;
  readonly cas: bigint;
}
