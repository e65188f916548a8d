/**
 * The peer endpoint is a door into every session: only a client holding the secret gets through,
 * anything else (a wrong key, a replayed frame, garbage, an oversized length, one connection too
 * many) closes the connection and changes nothing in the store. And PeerNode keeps the storage
 * interface's rules: deadlines, connection faults, versions a restarted peer never accepts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connect, createServer, Socket, type Server } from 'node:net';
import { createCipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { PeerEndpoint, type EndpointLimits, type Refusal } from '../../src/storage/peers/peer-endpoint.js';
import { PeerStore } from '../../src/storage/peers/peer-store.js';
import { PeerConnection } from '../../src/storage/peers/peer-connection.js';
import { LocalTransport, PeerNode } from '../../src/storage/peers/peer-node.js';
import { answerHello, checkAnswer, CLIENT_PROOF_BYTES, FrameChannel, hello, HELLO_BYTES, Incoming, linkKey, SERVER_PROOF_BYTES } from '../../src/storage/peers/peer-channel.js';
import { decodeResponse, encodeFields, encodeRequest, encodeResponse, MAX_MESSAGE_OVERHEAD, OP, REFUSED, Request } from '../../src/storage/peers/peer-protocol.js';
import { NodeAnswerError, NodeConnectionError, faultOf } from '../../src/storage/call-fault.js';
import { DeadlineError } from '../../src/base/deadline.js';

const KEY = linkKey('the secret');
const ITEM_LIMIT = 64 * 1024;
/** Bytes from a sealed frame's end to its ciphertext's last byte. */
const TAG_OFFSET = 17;
const LIMITS: EndpointLimits = { maxConnections: 4, maxBody: ITEM_LIMIT + MAX_MESSAGE_OVERHEAD, handshakeTimeout: 300 };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function endpoint(limits: Partial<EndpointLimits> = {}, store = new PeerStore({ itemSizeLimit: ITEM_LIMIT, maxBytes: 1 << 20 }), port = 0) {
  const refusals: Refusal[] = [];
  const server = new PeerEndpoint({ id: 'b', host: '127.0.0.1', port }, [KEY], store, { ...LIMITS, ...limits }, (reason) => refusals.push(reason));
  await server.listen();
  cleanups.push(() => server.close());
  return { server, store, refusals, address: { id: 'b', host: '127.0.0.1', port: server.port } };
}

function peerNode(port: number, key = KEY, operationTimeout = 1000): PeerNode {
  const node = new PeerNode('b', new PeerConnection({ id: 'b', host: '127.0.0.1', port }, key, { operationTimeout, maxBody: LIMITS.maxBody }), ITEM_LIMIT);
  cleanups.push(() => node.close());
  return node;
}

/** A hand-driven client: the raw socket, after the handshake when `authenticate`. */
async function rawClient(port: number, key = KEY) {
  const socket = connect({ port, host: '127.0.0.1' });
  cleanups.push(() => socket.destroy());
  const received: Buffer[] = [];
  let closed = false;
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => ((closed = true), resolve())));
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => received.push(chunk));
  const bytes = () => Buffer.concat(received);
  const until = async (count: number) => {
    for (let i = 0; i < 200 && bytes().length < count && !closed; i++) await new Promise((r) => setTimeout(r, 5));
  };
  await until(HELLO_BYTES);
  return {
    socket,
    closedPromise,
    isClosed: () => closed,
    /** Bytes received so far. */
    received: () => received.reduce((sum, chunk) => sum + chunk.length, 0),
    /**
     * Completes the handshake; returns a channel whose frames are captured instead of sent, its
     * send key (to forge frames), and `answers`: the messages of the frames received since.
     */
    async authenticate() {
      const answer = answerHello(key, bytes().subarray(0, HELLO_BYTES))!;
      socket.write(answer.message);
      await until(HELLO_BYTES + SERVER_PROOF_BYTES);
      const frames: Buffer[] = [];
      const capture = { write: (b: Buffer) => frames.push(b) } as unknown as Socket;
      const channel = new FrameChannel(capture, answer.keys, LIMITS.maxBody);
      const incoming = new Incoming();
      let read = HELLO_BYTES + SERVER_PROOF_BYTES;
      const answers: Buffer[] = [];
      return {
        channel,
        frames,
        sendKey: answer.keys.send,
        /** Waits for `count` answers in all; returns them with the number of frames they came in. */
        async answers(count: number) {
          let frameCount = 0;
          for (let i = 0; i < 200 && answers.length < count && !closed; i++) {
            incoming.push(bytes().subarray(read));
            read = bytes().length;
            const before = answers.length;
            answers.push(...channel.messages(incoming));
            if (answers.length > before) frameCount++;
            if (answers.length < count) await sleep(5);
          }
          return { answers, frameCount };
        },
      };
    },
  };
}

const setRequest = (key: string, value: string) => encodeRequest(new Request(OP.set, key, 0, 0n, Buffer.from(value)));
const getRequest = (key: string) => encodeRequest(new Request(OP.get, key, 0, 0n, Buffer.alloc(0)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Queues `messages` on `channel` and seals them into one frame. */
function sendTogether(channel: FrameChannel, ...messages: Buffer[]): void {
  for (const message of messages) channel.queue(message);
  channel.flush();
}

/** Frame number `n` sealed under `key` with any plaintext, written out as the wire format says (to forge frames a FrameChannel would not send). */
function seal(key: KeyObject, n: number, plain: Buffer): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(n, 8);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const sealed = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(sealed.length);
  return Buffer.concat([header, sealed]);
}

/** Messages as a frame's plaintext: each u32 length ‖ message. */
function plaintext(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages.flatMap((message) => [Buffer.from(Uint32Array.of(message.length).buffer).reverse(), message]));
}

describe('peer endpoint', () => {
  it('serves a client that holds the secret: every storage call', async () => {
    const { address } = await endpoint();
    const node = peerNode(address.port);
    expect(await node.get('k')).toBeNull();
    await node.set('k', 'one', 0);
    expect((await node.get('k'))?.toString()).toBe('one');
    const read = (await node.gets('k'))!;
    expect(await node.storeIf('k', 'two', 0, read.cas + 1n)).toBeNull();
    const written = await node.storeIf('k', 'two', 0, read.cas);
    expect(written).not.toBeNull();
    expect(await node.storeIf('k', 'three', 0, undefined)).toBeNull();
    expect(await node.add('k', 'x', 0)).toBe(false);
    expect(await node.add('other', 'x', 0)).toBe(true);
    expect((await node.getAndTouch('k', 100))?.value.toString()).toBe('two');
    expect(await node.touch('k', 100)).toBe(true);
    expect(await node.touch('missing', 100)).toBe(false);
    expect(await node.deleteIf('k', read.cas)).toBe(false);
    expect(await node.deleteIf('k', written!)).toBe(true);
    expect(await node.delete('other')).toBe(true);
    expect(await node.delete('other')).toBe(false);
    expect(await node.instance()).toMatch(/^[0-9a-f]{32}$/);
  });

  it('expires items after their lifetime', async () => {
    let now = 1_000_000;
    const { address } = await endpoint({}, new PeerStore({ itemSizeLimit: ITEM_LIMIT, maxBytes: 1 << 20 }, () => now));
    const node = peerNode(address.port);
    await node.set('k', 'v', 10);
    now += 9_000;
    expect(await node.get('k')).not.toBeNull();
    now += 2_000;
    expect(await node.get('k')).toBeNull();
  });

  it('refuses a client with another secret: its calls fail as connection failures, and nothing is stored', async () => {
    const { address, store, refusals } = await endpoint();
    const node = peerNode(address.port, linkKey('another secret'));
    const err = await node.set('k', 'v', 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeConnectionError);
    expect(faultOf(err)).toBe('node');
    expect(store.size).toBe(0);
    expect(refusals).toContain('handshake');
  });

  it('a client refuses an endpoint that does not prove the secret', async () => {
    const impostor: Server = createServer((socket) => {
      socket.write(Buffer.concat([Buffer.from('MSMP\x02'), randomBytes(32)]));
      socket.once('data', () => socket.write(randomBytes(SERVER_PROOF_BYTES)));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => impostor.close(resolve)));
    const node = peerNode((impostor.address() as { port: number }).port);
    const err = (await node.get('k').catch((e: unknown) => e)) as NodeConnectionError;
    expect(err).toBeInstanceOf(NodeConnectionError);
    expect(err.code).toBe('EPEERAUTH');
  });

  it('closes the connection on a replayed frame, on the same connection or another, without applying it', async () => {
    const { address, store, refusals } = await endpoint();
    const first = await rawClient(address.port);
    const { channel, frames } = await first.authenticate();
    sendTogether(channel, setRequest('k', 'replayed'));
    first.socket.write(frames[0]);
    await sleep(50);
    const node = peerNode(address.port);
    expect((await node.get('k'))?.toString()).toBe('replayed');
    await node.set('k', 'newer', 0);
    // The same frame again on its own connection: out of sequence.
    first.socket.write(frames[0]);
    await first.closedPromise;
    // And on a new connection: sealed under another connection's key.
    const second = await rawClient(address.port);
    await second.authenticate();
    second.socket.write(frames[0]);
    await second.closedPromise;
    expect((await node.get('k'))?.toString()).toBe('newer');
    expect(store.size).toBe(1);
    expect(refusals.filter((r) => r === 'frame')).toHaveLength(2);
  });

  it('closes the connection on garbage, before or after the handshake', async () => {
    const { address, store, refusals } = await endpoint();
    const before = await rawClient(address.port);
    before.socket.write(randomBytes(64));
    await before.closedPromise;
    const after = await rawClient(address.port);
    await after.authenticate();
    const garbage = randomBytes(100);
    garbage.writeUInt32BE(96);
    after.socket.write(garbage);
    await after.closedPromise;
    expect(refusals).toEqual(['handshake', 'frame']);
    expect(store.size).toBe(0);
  });

  it('closes the connection on an authenticated request that is malformed', async () => {
    const { address, store, refusals } = await endpoint();
    const client = await rawClient(address.port);
    const { channel, frames } = await client.authenticate();
    sendTogether(channel, Buffer.from([99, 1, 2, 3]));
    client.socket.write(frames[0]);
    await client.closedPromise;
    expect(refusals).toEqual(['request']);
    expect(store.size).toBe(0);
  });

  it('closes the connection on a length over the bound at once, without waiting for (or allocating) the frame', async () => {
    const { address, refusals } = await endpoint();
    const client = await rawClient(address.port);
    await client.authenticate();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff);
    client.socket.write(header);
    await client.closedPromise;
    expect(refusals).toEqual(['frame']);
  });

  it('stops reading from a client that does not read its answers', async () => {
    const { server, address, store } = await endpoint();
    store.answer(new Request(OP.set, 'big', 0, 0n, Buffer.alloc(ITEM_LIMIT)));
    const client = await rawClient(address.port);
    const { channel, frames } = await client.authenticate();
    client.socket.pause();
    const get = encodeRequest(new Request(OP.get, 'big', 0, 0n, Buffer.alloc(0)));
    for (let i = 0; i < 1000; i++) sendTogether(channel, get);
    client.socket.write(Buffer.concat(frames));
    await sleep(300);
    // 1000 answers of 64 KiB would be 64 MiB: the endpoint answers only as fast as they are read.
    const [socket] = (server as unknown as { sockets: Set<Socket> }).sockets;
    expect(socket.bytesWritten + socket.writableLength).toBeLessThan(20 * 1024 * 1024);
    client.socket.resume();
    for (let i = 0; i < 200 && client.received() < 1000 * ITEM_LIMIT; i++) await sleep(20);
    expect(client.received()).toBeGreaterThan(1000 * ITEM_LIMIT);
  });

  it('answers the requests sealed in one frame in one frame, in order', async () => {
    const { address } = await endpoint();
    const client = await rawClient(address.port);
    const { channel, frames, answers } = await client.authenticate();
    sendTogether(channel, setRequest('a', 'one'), setRequest('b', 'two'), getRequest('a'), getRequest('b'), getRequest('c'));
    expect(frames).toHaveLength(1);
    client.socket.write(frames[0]);
    const received = await answers(5);
    expect(received.frameCount).toBe(1);
    expect(received.answers.map((body) => decodeResponse(body).value.toString())).toEqual(['', '', 'one', 'two', '']);
    expect(decodeResponse(received.answers[4]).status).toBe(REFUSED.status);
  });

  it('closes the connection on a frame of several requests replayed or altered, applying none of that frame', async () => {
    const { address, store, refusals } = await endpoint();
    const node = peerNode(address.port);
    const first = await rawClient(address.port);
    const sent = await first.authenticate();
    sendTogether(sent.channel, setRequest('x', '1'), setRequest('y', '1'));
    first.socket.write(sent.frames[0]);
    await sent.answers(2);
    await node.set('x', '2', 0);
    first.socket.write(sent.frames[0]);
    await first.closedPromise;

    const second = await rawClient(address.port);
    const altered = await second.authenticate();
    sendTogether(altered.channel, setRequest('x', '3'), setRequest('z', '3'));
    const frame = Buffer.from(altered.frames[0]);
    frame[frame.length - TAG_OFFSET] ^= 1;
    second.socket.write(frame);
    await second.closedPromise;

    expect(refusals).toEqual(['frame', 'frame']);
    expect((await node.get('x'))?.toString()).toBe('2');
    expect(await node.get('z')).toBeNull();
    expect(store.size).toBe(2);
  });

  it('closes the connection on an authentic frame over the bound, empty, or whose messages overrun it, applying none of it', async () => {
    const { address, store, refusals } = await endpoint();
    const forged = [
      // Two messages within the bound each, over it together.
      plaintext(setRequest('a', 'x'.repeat(LIMITS.maxBody - 100)), setRequest('b', 'x'.repeat(200))),
      Buffer.alloc(0),
      // A valid request, then a length past the end of the frame.
      Buffer.concat([plaintext(setRequest('a', 'v')), Buffer.from([0, 0, 0, 9, 1, 2, 3])]),
      // A valid request, then two bytes: too few for a length.
      Buffer.concat([plaintext(setRequest('a', 'v')), Buffer.from([0, 0])]),
    ];
    for (const plain of forged) {
      const client = await rawClient(address.port);
      const { sendKey } = await client.authenticate();
      client.socket.write(seal(sendKey, 0, plain));
      await client.closedPromise;
    }
    expect(refusals).toEqual(['frame', 'frame', 'frame', 'frame']);
    expect(store.size).toBe(0);
    // The same sealing is accepted for a frame that is well formed: the refusals were for what the frames said.
    const client = await rawClient(address.port);
    const { sendKey, answers } = await client.authenticate();
    client.socket.write(seal(sendKey, 0, plaintext(setRequest('a', 'v'), setRequest('b', 'v'))));
    expect((await answers(2)).answers).toHaveLength(2);
    expect(store.size).toBe(2);
  });

  it('listens on its configured address only', async () => {
    const { address } = await endpoint();
    const other = connect({ host: '127.0.0.2', port: address.port });
    const failure = await new Promise<NodeJS.ErrnoException>((resolve) => other.once('error', resolve));
    expect(failure.code).toBe('ECONNREFUSED');
  });

  it('closes a connection that does not authenticate in time', async () => {
    const { address, refusals } = await endpoint({ handshakeTimeout: 100 });
    const client = await rawClient(address.port);
    await client.closedPromise;
    expect(refusals).toEqual(['handshake timeout']);
  });

  it('takes at most maxConnections connections; a further one is closed at once, the others keep working', async () => {
    const { address, refusals } = await endpoint({ maxConnections: 2 });
    const idle = [await rawClient(address.port), await rawClient(address.port)];
    const extra = await rawClient(address.port);
    await extra.closedPromise;
    expect(refusals).toEqual(['too many connections']);
    expect(idle.some((c) => c.isClosed())).toBe(false);
    idle[0].socket.destroy();
    await idle[0].closedPromise;
    await sleep(20);
    expect(await peerNode(address.port).add('k', 'v', 0)).toBe(true);
  });
});

describe('PeerNode', () => {
  it('refuses a value over itemSizeLimit as the request\'s fault, without sending it', async () => {
    const { address, store } = await endpoint();
    const err = await peerNode(address.port).set('k', Buffer.alloc(ITEM_LIMIT + 1), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeAnswerError);
    expect((err as NodeAnswerError).tooLarge).toBe(true);
    expect(faultOf(err)).toBe('answered');
    expect(store.size).toBe(0);
  });

  it('fails with NodeConnectionError when nothing listens, and with DeadlineError when the peer does not answer in time', async () => {
    const { server, address } = await endpoint();
    await server.close();
    const refused = (await peerNode(address.port).get('k').catch((e: unknown) => e)) as NodeConnectionError;
    expect(refused).toBeInstanceOf(NodeConnectionError);
    expect(refused.code).toBe('ECONNREFUSED');

    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    const started = Date.now();
    const late = await peerNode((silent.address() as { port: number }).port, KEY, 150).get('k').catch((e: unknown) => e);
    expect(late).toBeInstanceOf(DeadlineError);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('sends the calls made in one event-loop turn in one frame, and answers each in order', async () => {
    const { address } = await endpoint();
    const node = peerNode(address.port);
    await node.set('k3', 'three', 0);
    await node.set('k7', 'seven', 0);
    const write = vi.spyOn(Socket.prototype, 'write');
    cleanups.push(() => write.mockRestore());
    const values = await node.getMany(Array.from({ length: 10 }, (_, i) => `k${i}`));
    expect(values.map((v) => v?.toString() ?? null)).toEqual([null, null, null, 'three', null, null, null, 'seven', null, null]);
    const fromClient = write.mock.contexts.filter((socket) => (socket as Socket).remotePort === address.port);
    expect(fromClient).toHaveLength(1);
  });

  it('fails every call queued when one misses its deadline, once each and with the same DeadlineError, from one timer', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    cleanups.push(() => vi.useRealTimers());
    const node = peerNode((silent.address() as { port: number }).port, KEY, 150);
    const settled: unknown[][] = Array.from({ length: 10 }, () => []);
    const calls = settled.map((outcomes, i) => node.get(`k${i}`).then((v) => outcomes.push(v), (e: unknown) => outcomes.push(e)));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(149);
    expect(settled.flat()).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all(calls);
    expect(settled.every((outcomes) => outcomes.length === 1)).toBe(true);
    const [err] = settled[0];
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as Error).message).toBe('peer b get did not complete within 150 ms');
    expect(settled.every(([e]) => e === err)).toBe(true);
  });

  it('gives a call sent after an answered one its own full deadline', async () => {
    // An endpoint that answers the first request and no other.
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      const greeting = hello();
      socket.write(greeting.message);
      const incoming = new Incoming();
      let channel: FrameChannel | undefined;
      let answered = false;
      socket.on('data', (chunk: Buffer) => {
        incoming.push(chunk);
        if (!channel) {
          const accepted = checkAnswer([KEY], greeting.nonce, incoming.take(CLIENT_PROOF_BYTES)!)!;
          socket.write(accepted.message);
          channel = new FrameChannel(socket, accepted.keys, LIMITS.maxBody);
        }
        for (const _ of channel.messages(incoming)) {
          if (answered) continue;
          answered = true;
          sendTogether(channel, encodeResponse(REFUSED));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    cleanups.push(() => vi.useRealTimers());
    const node = peerNode((server.address() as { port: number }).port, KEY, 1000);
    expect(await node.get('first')).toBeNull();
    await vi.advanceTimersByTimeAsync(600);
    const outcomes: unknown[] = [];
    const later = [node.get('second'), node.get('third')].map((call) => call.catch((e: unknown) => outcomes.push(e)));
    // The first call's deadline passes: the second's is 600 ms away.
    await vi.advanceTimersByTimeAsync(999);
    expect(outcomes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all(later);
    expect(outcomes).toHaveLength(2);
    expect(outcomes[0]).toBeInstanceOf(DeadlineError);
    expect((outcomes[0] as Error).message).toBe('peer b get did not complete within 1000 ms');
    expect(outcomes[1]).toBe(outcomes[0]);
  });

  it('never accepts a version handed out before the peer restarted, and reports a new instance', async () => {
    const first = await endpoint();
    const node = peerNode(first.address.port);
    await node.set('k', 'before', 0);
    const old = (await node.gets('k'))!;
    const instance = await node.instance();
    await first.server.close();
    // The restarted peer, on the same port, gets the same key written again: the counter starts over.
    await endpoint({}, undefined, first.address.port);
    await node.get('k').catch(() => undefined); // the old connection's failure
    await node.set('k', 'after', 0);
    expect(await node.storeIf('k', 'stale', 0, old.cas)).toBeNull();
    expect(await node.deleteIf('k', old.cas)).toBe(false);
    expect((await node.get('k'))?.toString()).toBe('after');
    expect(await node.instance()).not.toBe(instance);
  });
});

describe('peer messages (publish/subscribe, as over Redis)', () => {
  /** A node subscribed to `channels`, with what it received and how often its subscription (re)opened. */
  function subscriber(port: number, channels: string[]) {
    const node = peerNode(port);
    const received: string[] = [];
    let opened = 0;
    node.messages.subscribe(channels, (channel, message) => received.push(`${channel}: ${message.toString()}`), () => opened++);
    return { node, received, opened: () => opened };
  }
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 400 && !check(); i++) await sleep(5);
    expect(check()).toBe(true);
  };

  it('delivers what is published to every subscriber of the channel, in the store\'s order, and counts the receivers', async () => {
    const { address } = await endpoint();
    const one = subscriber(address.port, ['push', 'own-1']);
    const two = subscriber(address.port, ['push', 'own-2']);
    await until(() => one.opened() === 1 && two.opened() === 1);
    const writer = peerNode(address.port);
    expect(await writer.messages.publish('push', 'hello')).toBe(2);
    expect(await writer.messages.publish('own-1', 'only one')).toBe(1);
    expect(await writer.messages.publish('nobody', 'lost')).toBe(0);
    const first = await writer.messages.storeIfAndPublish('token', Buffer.from('t1'), undefined, 'push', 'own-2');
    expect(first.receivers).toBe(2);
    // A conditional write on a stale version is refused, and publishes nothing.
    expect(await writer.messages.storeIfAndPublish('token', Buffer.from('stale'), undefined, 'push', 'own-2')).toEqual({ order: null, receivers: 0 });
    const second = await writer.messages.storeIfAndPublish('token', Buffer.from('t2'), first.order!, 'push', 'own-2');
    expect(second.order).not.toBeNull();
    expect((await writer.gets('token'))?.cas).toBe(second.order);
    expect(await writer.messages.publishState('own-1', 'h 7', 'token')).toBe(1);
    expect(await writer.messages.publishState('own-1', 'h 8', 'absent')).toBe(1);
    await until(() => one.received.length === 6 && two.received.length === 3);
    expect(one.received).toEqual(['push: hello', 'own-1: only one', `push: ${first.order} own-2 t1`, `push: ${second.order} own-2 t2`, `own-1: h 7 ${second.order} t2`, 'own-1: h 8 0 ']);
    expect(two.received).toEqual(['push: hello', `push: ${first.order} own-2 t1`, `push: ${second.order} own-2 t2`]);
  });

  it('a subscription lost with its connection opens again (onOpen tells), and receives from then on', async () => {
    const first = await endpoint();
    const one = subscriber(first.address.port, ['push']);
    await until(() => one.opened() === 1);
    await first.server.close();
    const again = await endpoint({}, undefined, first.address.port);
    await until(() => one.opened() === 2);
    expect(await peerNode(again.address.port).messages.publish('push', 'after')).toBe(1);
    await until(() => one.received.length === 1);
    expect(one.received).toEqual(['push: after']);
  });

  it('this process\'s own store delivers to its own subscription after the call returns, in order', async () => {
    const store = new PeerStore({ itemSizeLimit: ITEM_LIMIT, maxBytes: 1 << 20 });
    const node = new PeerNode('a', new LocalTransport(store, () => undefined), ITEM_LIMIT);
    cleanups.push(() => node.close());
    const received: string[] = [];
    node.messages.subscribe(['push'], (_channel, message) => received.push(message.toString()), () => undefined);
    await until(() => store.answer(new Request(OP.publish, '', 0, 0n, encodeFields(['push'], 'probe'))).version === 1n);
    received.length = 0;
    const published = node.messages.publish('push', 'one');
    expect(received).toEqual([]);
    await published;
    await node.messages.publish('push', 'two');
    await until(() => received.length === 2);
    expect(received).toEqual(['one', 'two']);
  });

  it('closes the connection on a message operation whose fields overrun it, or a subscription naming too many channels', async () => {
    const { address, refusals } = await endpoint();
    for (const request of [
      encodeRequest(new Request(OP.publish, '', 0, 0n, Buffer.from([0xff, 0xff, 1]))),
      encodeRequest(new Request(OP.storeIfAndPublish, 'k', 0, 0n, encodeFields(['push']))),
      encodeRequest(new Request(OP.subscribe, '', 0, 0n, encodeFields(Array.from({ length: 9 }, (_, i) => `c${i}`)))),
    ]) {
      const client = await rawClient(address.port);
      const { channel, frames } = await client.authenticate();
      sendTogether(channel, request);
      client.socket.write(frames[0]);
      await client.closedPromise;
    }
    expect(refusals).toEqual(['request', 'request', 'request']);
  });
});
