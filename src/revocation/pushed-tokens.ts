import { randomToken } from '../base/random-token.js';
import type { Statistics } from '../base/statistics.js';
import { NodeAuthError } from '../storage/call-fault.js';
import type { NodeMessages, StorageNode } from '../storage/storage-node.js';

/** What a process knows of one node's revocation token from its subscription there. */
class Feed {
  /** The token item as last pushed (null: the node had none). */
  value: Buffer | null = null;
  /** Whether `value` was set on the current subscription (a heartbeat carries the whole state). */
  synced = false;
  /** When the newest heartbeat of this process received back was sent (performance.now()). */
  heardSentAt = Number.NEGATIVE_INFINITY;
  /** Heartbeats sent and not yet received back: sequence number → when sent. */
  readonly sent = new Map<number, number>();
  seq = 0;
}

/** A write waiting for its receivers' acknowledgements. */
interface AckCount {
  count: number;
  wake?: () => void;
  needed: number;
  since: number;
}

/**
 * Revocation tokens pushed instead of read, on a backend with publish/subscribe (Redis): every
 * token write is published by the node in the same step (storeIfAndPublish), so a process whose
 * subscription is current knows every node's token without asking, and a strict revocation check
 * costs no round trip while nothing was revoked.
 *
 * Why the bound stays strict: the writer of a token waits until every subscription that received
 * it has acknowledged (the receiver applies it first), or `staleAfter` ms. Each process also
 * publishes heartbeats to itself on each node, carrying the token's state, over the same
 * subscription: it trusts its feed only while the newest heartbeat it got back was sent less than
 * `staleAfter` ms ago. A receiver that did not acknowledge in time (paused, its subscription
 * backed up or cut) has therefore not heard a heartbeat sent after the write for longer than
 * `staleAfter` by the time the writer's request is answered, and reads tokens from the node again.
 */
export class PushedTokens {
  private readonly feeds = new Map<string, Feed>();
  private readonly acks = new Map<string, AckCount>();
  private readonly pushChannel: string;
  /** This process's channel on each node: its heartbeats and the acknowledgements of its writes. */
  private readonly ownChannel: string;
  private readonly timer: NodeJS.Timeout;
  /** Set once a node refused to publish (its ACL allows no channels): tokens are read from then on. */
  private refused = false;

  /**
   * @param tokenKey the key of each node's revocation token
   * @param staleAfter ms after which a feed not confirmed by a heartbeat is not trusted, and the
   *   longest a token write waits for acknowledgements
   */
  constructor(
    private readonly nodes: ReadonlyMap<string, NodeMessages>,
    private readonly tokenKey: string,
    prefix: string,
    private readonly staleAfter: number,
    stats: Statistics,
  ) {
    this.pushChannel = `${prefix}revoked:push`;
    this.ownChannel = `${prefix}revoked:process:${randomToken(16)}`;
    for (const [node, messages] of nodes) {
      const feed = new Feed();
      this.feeds.set(node, feed);
      messages.subscribe(
        [this.pushChannel, this.ownChannel],
        (channel, message) => this.received(node, feed, channel, message),
        () => {
          // Messages published while the subscription was down are lost: wait for a heartbeat's state.
          feed.synced = false;
          feed.heardSentAt = Number.NEGATIVE_INFINITY;
          this.heartbeat(node, feed);
        },
      );
    }
    this.timer = setInterval(() => this.beat(), Math.max(1, Math.floor(staleAfter / 4)));
    this.timer.unref();
    stats.gauge('revocationPushCurrent', () => [...this.feeds.keys()].filter((node) => this.current(node) !== undefined).length);
  }

  /**
   * The node's token item as pushed (null: it has none), when this process's feed from it is
   * current; undefined when it must be read from the node.
   */
  current(node: string): Buffer | null | undefined {
    const feed = this.feeds.get(node);
    if (this.refused || !feed?.synced || performance.now() - feed.heardSentAt >= this.staleAfter) return undefined;
    return feed.value;
  }

  /**
   * Writes the token (storeIf semantics: `version` undefined adds) and publishes it, then waits
   * until every process subscribed received it, at most `staleAfter` ms. False when refused.
   */
  async store(client: StorageNode, value: Buffer, version: bigint | undefined): Promise<boolean> {
    let write;
    try {
      write = await client.messages!.storeIfAndPublish(this.tokenKey, value, version, this.pushChannel, this.ownChannel);
    } catch (err) {
      if (!(err instanceof NodeAuthError)) throw err;
      this.refuse();
      return (await client.storeIf(this.tokenKey, value, 0, version)) !== null;
    }
    if (write.order === null) return false;
    await this.acknowledged(`${client.id} ${write.order}`, write.receivers);
    return true;
  }

  /**
   * Not allowed to publish: neither are the other processes (same credentials), so none of them
   * trusts a feed either; from now on this one reads tokens and writes them plainly.
   */
  private refuse(): void {
    this.refused = true;
    clearInterval(this.timer);
  }

  private acknowledged(key: string, needed: number): Promise<void> {
    const ack = this.acks.get(key) ?? { count: 0, needed, since: performance.now() };
    ack.needed = needed;
    if (ack.count >= needed) {
      this.acks.delete(key);
      return Promise.resolve();
    }
    this.acks.set(key, ack);
    return new Promise((resolve) => {
      const timer = setTimeout(() => ack.wake?.(), this.staleAfter);
      ack.wake = () => {
        clearTimeout(timer);
        this.acks.delete(key);
        resolve();
      };
    });
  }

  private received(node: string, feed: Feed, channel: string, message: Buffer): void {
    const first = message.indexOf(0x20);
    const second = message.indexOf(0x20, first + 1);
    if (first < 0 || second < 0) return;
    const head = message.toString('latin1', 0, first);
    const middle = message.toString('latin1', first + 1, second);
    const value = message.subarray(second + 1);
    if (channel === this.pushChannel) {
      // `<order> <replyTo> <value>`: applied before it is acknowledged.
      if (feed.synced) feed.value = copyIfChanged(feed.value, value);
      this.nodes.get(node)!.publish(middle, `a ${node} ${head}`).catch(() => undefined);
    } else if (head === 'h') {
      // `h <seq> <order> <value>` (this process's heartbeat): the token as it was when published.
      const space = value.indexOf(0x20);
      const order = value.toString('latin1', 0, space < 0 ? value.length : space);
      const seq = Number(middle);
      const sentAt = feed.sent.get(seq);
      if (sentAt === undefined) return;
      for (const old of feed.sent.keys()) if (old <= seq) feed.sent.delete(old);
      feed.value = order === '0' ? null : copyIfChanged(feed.value, value.subarray(space + 1));
      feed.synced = true;
      feed.heardSentAt = Math.max(feed.heardSentAt, sentAt);
    } else if (head === 'a') {
      // `a <node> <order>`: a receiver applied a write of this process.
      const key = `${middle} ${value.toString('latin1')}`;
      const ack = this.acks.get(key) ?? { count: 0, needed: Number.POSITIVE_INFINITY, since: performance.now() };
      ack.count++;
      this.acks.set(key, ack);
      if (ack.count >= ack.needed) ack.wake?.();
    }
  }

  /** One heartbeat to itself on every node; forgets acknowledgements nobody waits for any more. */
  private beat(): void {
    for (const [node, feed] of this.feeds) this.heartbeat(node, feed);
    const now = performance.now();
    for (const [key, ack] of this.acks) if (!ack.wake && now - ack.since > this.staleAfter) this.acks.delete(key);
  }

  private heartbeat(node: string, feed: Feed): void {
    const seq = ++feed.seq;
    feed.sent.set(seq, performance.now());
    // Heartbeats lost with a dropped subscription are never received: only the newest few are kept.
    if (feed.sent.size > 64) feed.sent.delete(feed.sent.keys().next().value!);
    this.nodes
      .get(node)!
      .publishState(this.ownChannel, `h ${seq}`, this.tokenKey)
      .catch((err: unknown) => {
        if (err instanceof NodeAuthError) this.refuse();
      });
  }

  close(): void {
    clearInterval(this.timer);
    for (const ack of this.acks.values()) ack.wake?.();
  }
}

/**
 * `value` as a buffer of its own, or `known` when it holds the same bytes: the token a read
 * compares stays the same object between changes (see Revocations.openToken).
 */
function copyIfChanged(known: Buffer | null, value: Buffer): Buffer {
  return known?.equals(value) ? known : Buffer.from(value);
}
