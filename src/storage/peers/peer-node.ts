import { NodeAnswerError } from '../call-fault.js';
import { decodeScanPage, FEATURE_PATCH, OP, Request, STATUS, type Op, type PeerRequest, type PeerResponse, type ScanPage } from './peer-protocol.js';
import type { StorageNode, VersionedValue } from '../storage-node.js';
import type { PeerStore } from './peer-store.js';
import { PeerMessages } from './peer-messages.js';

/** Who takes what a transport's subscription receives. */
export interface PushListener {
  /** A pushed message (channel · message, see peer-protocol.ts). */
  message(push: Buffer): void;
  /** The connection ended, and any subscription with it. */
  lost(): void;
}

/** How a PeerNode reaches a store: over an authenticated connection, or in this process. */
export interface PeerTransport {
  /** The store's answer; rejects with NodeConnectionError or DeadlineError when it cannot be had. */
  request(request: PeerRequest, what: string): Promise<PeerResponse>;
  /** Where messages pushed to this transport's subscription go. */
  listen(pushes: PushListener): void;
  close(): void;
}

/** This process's own store, reached without the network (no deadline needed: it answers at once). */
export class LocalTransport implements PeerTransport {
  private pushes?: PushListener;
  /** This process as a subscriber of its own store: messages arrive after the call that published them returns, in order, as from a peer. */
  private readonly subscriber = (push: Buffer) => queueMicrotask(() => this.pushes?.message(push));

  constructor(
    private readonly store: PeerStore,
    private readonly onClose: () => void,
  ) {}

  request(request: PeerRequest): Promise<PeerResponse> {
    try {
      return Promise.resolve(this.store.answer(request, this.subscriber));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  listen(pushes: PushListener): void {
    this.pushes = pushes;
  }

  close(): void {
    this.store.unsubscribe(this.subscriber);
    this.onClose();
  }
}

/** A value read with its version (a class, as ValueAndCas in the memcached node). */
class ValueAndVersion implements VersionedValue {
  constructor(
    readonly value: Buffer,
    readonly cas: bigint,
  ) {}
}

const EMPTY = Buffer.alloc(0);

/**
 * One app process's store of session copies, as a storage node: another peer's over the network
 * (PeerConnection), or this process's own (LocalTransport). Versions are the store's, tagged with
 * its instance: a restarted peer matches none handed out before.
 */
export class PeerNode implements StorageNode {
  readonly kind = 'peer';
  /** The peer said it applies deltas (its instance answer, see OP.instance): a version before them closes the connection on one. */
  private patches = false;
  /** Publish/subscribe on this peer's store: revocation tokens are pushed over it. */
  readonly messages: PeerMessages;

  /**
   * @param messagesTransport where publish/subscribe goes (a connection of its own to a remote
   *   peer: a heartbeat or subscription that misses its deadline then drops only that connection,
   *   not the copies' calls queued behind it); `transport` when omitted
   */
  constructor(
    readonly id: string,
    private readonly transport: PeerTransport,
    private readonly itemSizeLimit: number,
    private readonly messagesTransport: PeerTransport = transport,
  ) {
    this.messages = new PeerMessages(id, (op, what, key, version, value) => this.call(op, what, key, 0, version, value, messagesTransport));
    messagesTransport.listen(this.messages);
  }

  private call(op: Op, what: string, key: string, ttl = 0, version = 0n, value: Buffer | string = EMPTY, transport = this.transport): Promise<PeerResponse> {
    const bytes = typeof value === 'string' ? Buffer.from(value) : value;
    // Refused here, as the peer would: a frame over the bound would close the connection instead.
    if (bytes.length > this.itemSizeLimit) return Promise.reject(this.tooLarge(what));
    return transport.request(new Request(op, key, ttl, version, bytes), what).then((response) => {
      if (response.status === STATUS.tooLarge) throw this.tooLarge(what);
      return response;
    });
  }

  private tooLarge(what: string): NodeAnswerError {
    return new NodeAnswerError(`peer ${this.id} ${what}: value too large (itemSizeLimit)`, this.id, true);
  }

  private ok(response: PeerResponse): boolean {
    return response.status === STATUS.ok;
  }

  private versioned(response: PeerResponse): VersionedValue | null {
    return this.ok(response) ? new ValueAndVersion(response.value, response.version) : null;
  }

  get(key: string): Promise<Buffer | null> {
    return this.call(OP.get, 'get', key).then((response) => (this.ok(response) ? response.value : null));
  }

  /** One request per key, pipelined on the one connection: one round trip. */
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  gets(key: string): Promise<VersionedValue | null> {
    return this.call(OP.get, 'get', key).then((response) => this.versioned(response));
  }

  getAndTouch(key: string, ttlSeconds: number): Promise<VersionedValue | null> {
    return this.call(OP.getAndTouch, 'gat', key, ttlSeconds).then((response) => this.versioned(response));
  }

  storeIf(key: string, value: Buffer | string, ttlSeconds: number, version: bigint | undefined): Promise<bigint | null> {
    const op = version === undefined ? OP.add : OP.replaceIf;
    return this.call(op, version === undefined ? 'add' : 'cas', key, ttlSeconds, version ?? 0n, value).then((response) => (this.ok(response) ? response.version : null));
  }

  deleteIf(key: string, version: bigint): Promise<boolean> {
    return this.call(OP.deleteIf, 'delete', key, 0, version).then((response) => this.ok(response));
  }

  set(key: string, value: Buffer | string, ttlSeconds: number): Promise<void> {
    return this.call(OP.set, 'set', key, ttlSeconds, 0n, value).then(() => undefined);
  }

  add(key: string, value: Buffer | string, ttlSeconds: number): Promise<boolean> {
    return this.call(OP.add, 'add', key, ttlSeconds, 0n, value).then((response) => this.ok(response));
  }

  touch(key: string, ttlSeconds: number): Promise<boolean> {
    return this.call(OP.touch, 'touch', key, ttlSeconds).then((response) => this.ok(response));
  }

  delete(key: string): Promise<boolean> {
    return this.call(OP.delete, 'delete', key).then((response) => this.ok(response));
  }

  patchCopy(key: string, delta: string, ttlSeconds: number): Promise<boolean> {
    if (!this.patches) return Promise.resolve(false);
    return this.call(OP.patch, 'patch', key, ttlSeconds, 0n, delta).then((response) => this.ok(response));
  }

  /** The page of the peer's items that follows key `after` ('' for the first), in key order (see OP.scan). */
  scan(after: string): Promise<ScanPage> {
    return this.call(OP.scan, 'scan', after).then((response) => decodeScanPage(response.value));
  }

  instance(): Promise<string> {
    return this.call(OP.instance, 'instance', '').then((response) => {
      const answer = response.value.toString();
      this.patches = answer.split(' ').slice(1).includes(FEATURE_PATCH);
      return answer;
    });
  }

  close(): void {
    this.messages.close();
    this.transport.close();
    if (this.messagesTransport !== this.transport) this.messagesTransport.close();
  }
}
