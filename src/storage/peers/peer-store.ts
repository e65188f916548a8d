import { randomBytes } from 'node:crypto';
import { decodeAllFields, decodeFields, encodeScanPage, FEATURE_PATCH, OP, REFUSED, Request, Response, ScanItem, STATUS, TOO_LARGE, type PeerRequest, type PeerResponse } from './peer-protocol.js';
import { MAX_CHANNELS, MessageHub, type Subscriber } from './message-hub.js';
import { LruItems } from '../lru-items.js';
import { applyDelta } from '../../format/copy-delta.js';
import type { CopyCodec } from '../../format/copy-codec.js';
import { encodeCopy, type VersionedCopy } from '../../format/versioned-copy.js';
import { SEAL_OVERHEAD } from '../../format/sealing.js';

/**
 * A stored value: the bytes as they came, or a session copy a delta was applied to, kept open and
 * sealed only when asked for (a takeover, a state pull): the next delta then needs no open and
 * seal of the whole copy. Open copies are as private as the sessions this process serves.
 */
interface Item {
  sealed: Buffer | undefined;
  open: VersionedCopy | undefined;
  /** What the item counts against the memory budget: its size once sealed. */
  bytes: number;
  /** Expiry in ms since epoch; 0: never. */
  expiresAt: number;
  version: bigint;
}

/** Bounds of a peer store. */
export interface PeerStoreLimits {
  /** Largest value stored (`itemSizeLimit`). */
  itemSizeLimit: number;
  /** Memory budget for keys and values; least recently used items go first when it is exceeded. */
  maxBytes: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * The copies this process keeps for its peers (and its own tombstones), in memory: expiry in
 * seconds from now, a size limit per item, least recently used items evicted over the memory
 * budget (as memcached). Versions carry this store's random instance tag in their upper 64 bits,
 * so a version handed out before a restart never matches an item of the new process.
 */
export class PeerStore {
  /** Names this process: a new one at every start (see StorageNode.instance). */
  readonly instance = randomBytes(16).toString('hex');
  private readonly tag = BigInt(`0x${this.instance.slice(0, 16)}`) << 64n;
  private readonly items: LruItems<Item>;
  private readonly hub = new MessageHub();
  private counter = 0n;

  constructor(
    private readonly limits: PeerStoreLimits,
    private readonly now: () => number = Date.now,
    /** How session copies are stored, to apply deltas to them (without: every delta is refused). */
    private readonly copies?: CopyCodec,
  ) {
    this.items = new LruItems<Item>((item) => item.bytes, now);
  }

  get size(): number {
    return this.items.size;
  }

  /**
   * Carries out one request: what PeerNode asks, over the network or in-process. `subscriber` is
   * where the asker's connection takes pushed messages (a `subscribe` without one is refused).
   */
  answer(request: PeerRequest, subscriber?: Subscriber): PeerResponse {
    const { key, ttl, version, value } = request;
    switch (request.op) {
      case OP.get:
        return this.found(key, this.items.live(key));
      case OP.getAndTouch: {
        const item = this.items.live(key);
        if (item) item.expiresAt = this.expiry(ttl);
        return this.found(key, item);
      }
      case OP.set:
        return this.store(key, value, ttl);
      case OP.add:
        return this.items.live(key) ? REFUSED : this.store(key, value, ttl);
      case OP.replaceIf:
        return this.items.live(key)?.version === version ? this.store(key, value, ttl) : REFUSED;
      case OP.delete:
      case OP.deleteIf: {
        const item = this.items.live(key);
        if (!item || (request.op === OP.deleteIf && item.version !== version)) return REFUSED;
        this.items.remove(key, item);
        return new Response(STATUS.ok, 0n, EMPTY);
      }
      case OP.touch: {
        const item = this.items.live(key);
        if (!item) return REFUSED;
        item.expiresAt = this.expiry(ttl);
        return new Response(STATUS.ok, item.version, EMPTY);
      }
      case OP.instance:
        return new Response(STATUS.ok, 0n, Buffer.from(this.copies ? `${this.instance} ${FEATURE_PATCH}` : this.instance));
      case OP.scan:
        return new Response(STATUS.ok, 0n, encodeScanPage(this.itemsAfter(key), this.limits.itemSizeLimit).page);
      case OP.patch:
        return this.patch(key, value, ttl);
      case OP.subscribe:
        if (!subscriber) return REFUSED;
        this.hub.subscribe(subscriber, decodeAllFields(value, MAX_CHANNELS));
        return new Response(STATUS.ok, 0n, EMPTY);
      case OP.publish: {
        const { fields, rest } = decodeFields(value, 1);
        return new Response(STATUS.ok, BigInt(this.hub.publish(fields[0], Buffer.from(rest))), EMPTY);
      }
      case OP.storeIfAndPublish:
        return this.storeAndPublish(key, version, value);
      case OP.publishState: {
        const { fields, rest } = decodeFields(value, 1);
        const item = this.items.live(key);
        const state = Buffer.concat([Buffer.from(`${rest.toString()} ${item ? item.version : 0} `), item ? this.valueOf(key, item) : EMPTY]);
        return new Response(STATUS.ok, BigInt(this.hub.publish(fields[0], state)), EMPTY);
      }
    }
  }

  /** A subscriber gone with its connection. */
  unsubscribe(subscriber: Subscriber): void {
    this.hub.unsubscribe(subscriber);
  }

  /** OP.storeIfAndPublish: the write and its message in one step, so subscribers see writes in the store's order. */
  private storeAndPublish(key: string, version: bigint, value: Buffer): PeerResponse {
    const { fields, rest } = decodeFields(value, 2);
    const stored = this.answer(new Request(version === 0n ? OP.add : OP.replaceIf, key, 0, version, rest));
    if (stored.status !== STATUS.ok) return stored;
    const item = this.items.peek(key)!;
    const receivers = this.hub.publish(fields[0], Buffer.concat([Buffer.from(`${item.version} ${fields[1]} `), this.valueOf(key, item)]));
    const count = Buffer.allocUnsafe(4);
    count.writeUInt32BE(receivers);
    return new Response(STATUS.ok, item.version, count);
  }

  /** Applies a copy's delta (see OP.patch): refused unless the copy stored under `key` is its base. */
  private patch(key: string, delta: Buffer, ttl: number): PeerResponse {
    const item = this.items.live(key);
    const stored = item && (item.open ?? this.copies?.decode(key, item.sealed!));
    const patched = stored && applyDelta(stored, delta.toString());
    if (!patched) return REFUSED;
    // The size it will have once sealed, so the limit applies as to a copy that came sealed.
    const bytes = Buffer.byteLength(encodeCopy(patched)) + SEAL_OVERHEAD;
    if (bytes > this.limits.itemSizeLimit) return TOO_LARGE;
    return this.keep(key, { sealed: undefined, open: patched, bytes, expiresAt: this.expiry(ttl), version: 0n });
  }

  /** An item's bytes, sealed now if it is held open. */
  private valueOf(key: string, item: Item): Buffer {
    if (item.sealed) return item.sealed;
    const sealed = this.copies!.encode(key, item.open!);
    return (item.sealed = typeof sealed === 'string' ? Buffer.from(sealed) : sealed);
  }

  /** The live items whose keys sort after `after`, in key order; their recency is left as it is. */
  private *itemsAfter(after: string): Generator<ScanItem> {
    const keys = [...this.items.keys()].filter((key) => key > after).sort();
    const now = this.now();
    for (const key of keys) {
      const item = this.items.peek(key)!;
      yield new ScanItem(key, item.expiresAt === 0 ? 0 : Math.max(1, Math.ceil((item.expiresAt - now) / 1000)), this.valueOf(key, item));
    }
  }

  private found(key: string, item: Item | undefined): PeerResponse {
    return item ? new Response(STATUS.ok, item.version, this.valueOf(key, item)) : REFUSED;
  }

  private expiry(ttlSeconds: number): number {
    return ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0;
  }

  /** Stores a copy of `value` (a value read off the socket shares its buffer with the rest of the frame). */
  private store(key: string, value: Buffer, ttl: number): PeerResponse {
    if (value.length > this.limits.itemSizeLimit) return TOO_LARGE;
    return this.keep(key, { sealed: Buffer.from(value), open: undefined, bytes: value.length, expiresAt: this.expiry(ttl), version: 0n });
  }

  /** Stores `item` under a new version. */
  private keep(key: string, item: Item): PeerResponse {
    item.version = this.tag | ++this.counter;
    this.items.set(key, item, this.limits.maxBytes);
    return new Response(STATUS.ok, item.version, EMPTY);
  }
}
