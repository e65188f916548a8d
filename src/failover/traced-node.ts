import type { NodeMessages, StorageNode, VersionedValue } from '../storage/storage-node.js';
import { storageTrace, traced } from '../base/tracing.js';

/** A storage node whose every call is a `memcached-session-manager:storage` trace point, whatever the backend. */
export class TracedNode implements StorageNode {
  readonly id: string;
  readonly kind: string;
  /** Passed through untraced: pub/sub is background traffic, not a request's storage call. */
  readonly messages?: NodeMessages;

  /** Traced like the calls below, where the node has it (peers). */
  readonly patchCopy?: (key: string, delta: string, ttlSeconds: number) => Promise<boolean>;

  constructor(private readonly node: StorageNode) {
    this.id = node.id;
    this.kind = node.kind;
    this.messages = node.messages;
    const patch = node.patchCopy?.bind(node);
    if (patch) this.patchCopy = (key, delta, ttl) => (storageTrace.hasSubscribers ? this.trace('patchCopy', () => patch(key, delta, ttl)) : patch(key, delta, ttl));
  }

  // Each method checks for subscribers before making the closure it traces: a call nobody watches allocates nothing more.
  private trace<T>(operation: string, call: () => Promise<T>): Promise<T> {
    return traced(storageTrace, { kind: this.kind, node: this.id, operation }, call);
  }

  get(key: string): Promise<Buffer | null> {
    return storageTrace.hasSubscribers ? this.trace('get', () => this.node.get(key)) : this.node.get(key);
  }
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
    return storageTrace.hasSubscribers ? this.trace('getMany', () => this.node.getMany(keys)) : this.node.getMany(keys);
  }
  gets(key: string): Promise<VersionedValue | null> {
    return storageTrace.hasSubscribers ? this.trace('gets', () => this.node.gets(key)) : this.node.gets(key);
  }
  getAndTouch(key: string, ttlSeconds: number): Promise<VersionedValue | null> {
    return storageTrace.hasSubscribers ? this.trace('getAndTouch', () => this.node.getAndTouch(key, ttlSeconds)) : this.node.getAndTouch(key, ttlSeconds);
  }
  storeIf(key: string, value: Buffer | string, ttlSeconds: number, version: bigint | undefined): Promise<bigint | null> {
    return storageTrace.hasSubscribers ? this.trace('storeIf', () => this.node.storeIf(key, value, ttlSeconds, version)) : this.node.storeIf(key, value, ttlSeconds, version);
  }
  deleteIf(key: string, version: bigint): Promise<boolean> {
    return storageTrace.hasSubscribers ? this.trace('deleteIf', () => this.node.deleteIf(key, version)) : this.node.deleteIf(key, version);
  }
  set(key: string, value: Buffer | string, ttlSeconds: number): Promise<void> {
    return storageTrace.hasSubscribers ? this.trace('set', () => this.node.set(key, value, ttlSeconds)) : this.node.set(key, value, ttlSeconds);
  }
  add(key: string, value: Buffer | string, ttlSeconds: number): Promise<boolean> {
    return storageTrace.hasSubscribers ? this.trace('add', () => this.node.add(key, value, ttlSeconds)) : this.node.add(key, value, ttlSeconds);
  }
  touch(key: string, ttlSeconds: number): Promise<boolean> {
    return storageTrace.hasSubscribers ? this.trace('touch', () => this.node.touch(key, ttlSeconds)) : this.node.touch(key, ttlSeconds);
  }
  delete(key: string): Promise<boolean> {
    return storageTrace.hasSubscribers ? this.trace('delete', () => this.node.delete(key)) : this.node.delete(key);
  }
  instance(): Promise<string> {
    return storageTrace.hasSubscribers ? this.trace('instance', () => this.node.instance()) : this.node.instance();
  }
  close(): void {
    this.node.close();
  }
}
