import { encodeFields } from './peer-protocol.js';

/** Receives what is published on its channels, as a push body (channel · message, see peer-protocol.ts). */
export type Subscriber = (push: Buffer) => void;

/** Channels one subscription may name (a process subscribes to two per node). */
export const MAX_CHANNELS = 8;

/**
 * The publish/subscribe side of a peer store: which subscriber (a peer's connection, or this
 * process) listens on which channels. Publishing hands the message to each of them at once, in
 * the order of the calls: that order is the store's.
 */
export class MessageHub {
  private readonly byChannel = new Map<string, Set<Subscriber>>();
  private readonly channelsOf = new Map<Subscriber, readonly string[]>();

  /** Makes `subscriber` listen on `channels` (and no longer on those it named before). */
  subscribe(subscriber: Subscriber, channels: readonly string[]): void {
    this.unsubscribe(subscriber);
    this.channelsOf.set(subscriber, channels);
    for (const channel of channels) {
      let set = this.byChannel.get(channel);
      if (!set) this.byChannel.set(channel, (set = new Set()));
      set.add(subscriber);
    }
  }

  unsubscribe(subscriber: Subscriber): void {
    for (const channel of this.channelsOf.get(subscriber) ?? []) {
      const set = this.byChannel.get(channel)!;
      set.delete(subscriber);
      if (set.size === 0) this.byChannel.delete(channel);
    }
    this.channelsOf.delete(subscriber);
  }

  /** Hands `message` to every subscriber of `channel`; returns how many there were. */
  publish(channel: string, message: Buffer): number {
    const subscribers = this.byChannel.get(channel);
    if (!subscribers) return 0;
    const push = encodeFields([channel], message);
    for (const subscriber of subscribers) subscriber(push);
    return subscribers.size;
  }
}
