import { KeptSubscription } from '../kept-subscription.js';
import type { NodeMessages, PublishedWrite } from '../storage-node.js';
import { decodeFields, encodeFields, OP, STATUS, type Op, type PeerResponse } from './peer-protocol.js';

/** How PeerMessages makes a call on its node (PeerNode's, with its deadline and size bound). */
export type PeerCall = (op: Op, what: string, key: string, version: bigint, value: Buffer) => Promise<PeerResponse>;

const REFUSED: PublishedWrite = { order: null, receivers: 0 };

/**
 * Publish/subscribe on one peer's store (see the message operations in peer-protocol.ts): the
 * same calls as Redis pub/sub, so revocation tokens are pushed between app processes as they are
 * over Redis. The calls go over the node's messages transport (a connection of its own to a
 * remote peer, in-process for this process's own store); the subscription is opened again
 * whenever that connection drops.
 */
export class PeerMessages implements NodeMessages {
  private kept?: KeptSubscription;
  private listener?: (channel: string, message: Buffer) => void;
  private subscribed = false;

  constructor(
    private readonly id: string,
    private readonly call: PeerCall,
  ) {}

  publish(channel: string, message: string): Promise<number> {
    return this.call(OP.publish, 'publish', '', 0n, encodeFields([channel], message)).then((response) => Number(response.version));
  }

  storeIfAndPublish(key: string, value: Buffer, version: bigint | undefined, channel: string, replyTo: string): Promise<PublishedWrite> {
    return this.call(OP.storeIfAndPublish, 'publish', key, version ?? 0n, encodeFields([channel, replyTo], value)).then((response) =>
      response.status === STATUS.ok ? { order: response.version, receivers: response.value.readUInt32BE(0) } : REFUSED,
    );
  }

  publishState(channel: string, tag: string, key: string): Promise<number> {
    return this.call(OP.publishState, 'publish', key, 0n, encodeFields([channel], tag)).then((response) => Number(response.version));
  }

  subscribe(channels: readonly string[], listener: (channel: string, message: Buffer) => void, onOpen: () => void): void {
    if (this.kept) throw new Error(`peer ${this.id}: one subscription per node`);
    this.listener = listener;
    const open = async () => {
      const response = await this.call(OP.subscribe, 'subscribe', '', 0n, encodeFields(channels));
      if (response.status !== STATUS.ok) throw new Error(`peer ${this.id} refused the subscription`);
      this.subscribed = true;
      onOpen();
    };
    this.kept = new KeptSubscription(open, () => this.subscribed);
  }

  /** A message pushed on the subscription (channel · message). */
  message(push: Buffer): void {
    const { fields, rest } = decodeFields(push, 1);
    this.listener?.(fields[0], rest);
  }

  /** The connection carrying the subscription ended: what is published until it is open again is missed. */
  lost(): void {
    this.subscribed = false;
  }

  close(): void {
    this.kept?.close();
  }
}
