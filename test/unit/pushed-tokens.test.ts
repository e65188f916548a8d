/**
 * Pushed revocation tokens (revocation/pushed-tokens.ts) between two processes over an in-memory
 * publish/subscribe node: what the strict bound rests on. A writer's store() resolves only once
 * every receiver applied the token, or after staleAfter; a receiver that stopped hearing its own
 * heartbeats stops trusting its feed; a subscription that reopens waits for a heartbeat's state.
 * (redis-modes.test.ts runs the same against redis-server with real processes.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PushedTokens } from '../../src/revocation/pushed-tokens.js';
import { Statistics } from '../../src/base/statistics.js';
import type { NodeMessages, PublishedWrite, StorageNode } from '../../src/storage/storage-node.js';

const STALE_AFTER = 60;
const TOKEN_KEY = 'p:revoked:token';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Subscriber {
  channels: readonly string[];
  listener: (channel: string, message: Buffer) => void;
  /** Paused: counted as a receiver, nothing delivered until resumed (held in order). */
  held?: Array<[string, Buffer]>;
}

/** One storage node with pub/sub, in memory: deliveries are asynchronous and in publish order. */
class FakeNode {
  value: Buffer | null = null;
  order = 0n;
  readonly subscribers = new Set<Subscriber>();

  publish(channel: string, message: Buffer): number {
    let receivers = 0;
    for (const sub of this.subscribers) {
      if (!sub.channels.includes(channel)) continue;
      receivers++;
      if (sub.held) sub.held.push([channel, message]);
      else setImmediate(() => sub.listener(channel, message));
    }
    return receivers;
  }

  /** One process's view: its NodeMessages, and handles to pause, resume or reopen its subscription. */
  process() {
    const node = this;
    let subscriber: Subscriber | undefined;
    let opened: (() => void) | undefined;
    const messages: NodeMessages = {
      async publish(channel, message) {
        return node.publish(channel, Buffer.from(message));
      },
      async storeIfAndPublish(key, value, version, channel, replyTo): Promise<PublishedWrite> {
        expect(key).toBe(TOKEN_KEY);
        if (version === undefined ? node.value !== null : version !== node.order) return { order: null, receivers: 0 };
        node.value = value;
        node.order++;
        const receivers = node.publish(channel, Buffer.concat([Buffer.from(`${node.order} ${replyTo} `), value]));
        return { order: node.order, receivers };
      },
      async publishState(channel, tag) {
        return node.publish(channel, Buffer.concat([Buffer.from(`${tag} ${node.value ? node.order : 0} `), node.value ?? Buffer.alloc(0)]));
      },
      subscribe(channels, listener, onOpen) {
        subscriber = { channels, listener };
        node.subscribers.add(subscriber);
        opened = onOpen;
        setImmediate(onOpen);
      },
    };
    return {
      client: { id: 'n1', messages } as unknown as StorageNode,
      messages,
      pause: () => (subscriber!.held = []),
      resume: () => {
        const held = subscriber!.held ?? [];
        subscriber!.held = undefined;
        for (const [channel, message] of held) setImmediate(() => subscriber!.listener(channel, message));
      },
      /** The subscription dropped and came back: what was published meanwhile is lost. */
      reopen: () => {
        subscriber!.held = undefined;
        opened!();
      },
    };
  }
}

const started: PushedTokens[] = [];
afterEach(() => {
  while (started.length) started.pop()!.close();
});

function processOn(node: FakeNode) {
  const view = node.process();
  const tokens = new PushedTokens(new Map([['n1', view.messages]]), TOKEN_KEY, 'p:', STALE_AFTER, new Statistics(false));
  started.push(tokens);
  return { ...view, tokens };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(5);
  expect(check()).toBe(true);
}

describe('pushed revocation tokens', () => {
  it('a write resolves only once the other process applied it', async () => {
    const node = new FakeNode();
    const a = processOn(node);
    const b = processOn(node);
    await until(() => a.tokens.current('n1') === null && b.tokens.current('n1') === null);
    const token = Buffer.from('token one');
    expect(await a.tokens.store(a.client, token, undefined)).toBe(true);
    expect(b.tokens.current('n1')).toEqual(token);
    // A refused write (the token changed meanwhile) is reported as such.
    expect(await a.tokens.store(a.client, Buffer.from('late'), undefined)).toBe(false);
  });

  it('a paused receiver stops trusting its feed, and a write waits for it at most staleAfter', async () => {
    const node = new FakeNode();
    const a = processOn(node);
    const b = processOn(node);
    await until(() => b.tokens.current('n1') === null);
    b.pause();
    const began = performance.now();
    await a.tokens.store(a.client, Buffer.from('token one'), undefined);
    expect(performance.now() - began).toBeGreaterThanOrEqual(STALE_AFTER - 1);
    // By the time the writer answers, the paused one's newest heartbeat is too old to trust.
    expect(b.tokens.current('n1')).toBeUndefined();
    b.resume();
    await until(() => b.tokens.current('n1')?.toString() === 'token one');
  });

  it('a reopened subscription is not trusted until a heartbeat brings the state it missed', async () => {
    const node = new FakeNode();
    const a = processOn(node);
    const b = processOn(node);
    await until(() => b.tokens.current('n1') === null);
    // The write is published while b's subscription is down (b is not a receiver then).
    b.pause();
    const down = [...node.subscribers].find((sub) => sub.held)!;
    node.subscribers.delete(down);
    await a.tokens.store(a.client, Buffer.from('token two'), undefined);
    node.subscribers.add(down);
    b.reopen();
    expect(b.tokens.current('n1')).toBeUndefined();
    await until(() => b.tokens.current('n1')?.toString() === 'token two');
  });
});
