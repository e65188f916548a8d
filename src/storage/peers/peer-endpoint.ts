import { createServer, type Server, type Socket } from 'node:net';
import { checkAnswer, CLIENT_PROOF_BYTES, FrameChannel, hello, Incoming } from './peer-channel.js';
import { decodeRequest, encodeResponse, Response, STATUS } from './peer-protocol.js';
import type { Subscriber } from './message-hub.js';
import type { PeerStore } from './peer-store.js';
import type { NodeAddress } from '../node-list.js';

/** Bounds of a peer endpoint. */
export interface EndpointLimits {
  /** Connections open at once, authenticated or not; more are closed as they arrive. */
  maxConnections: number;
  /** Largest request body (a value plus the request's header and key). */
  maxBody: number;
  /** How long a new connection has to authenticate, in ms. */
  handshakeTimeout: number;
}

/** Bytes waiting to be sent to a subscribed connection beyond which it is dropped. */
const SUBSCRIBER_BACKLOG = 8 * 1024 * 1024;

/** Why a connection was closed unserved (for the log: it says nothing to the other side). */
export type Refusal = 'too many connections' | 'handshake' | 'handshake timeout' | 'frame' | 'request';

/**
 * This process's door for its peers: a TCP server on its own `peers` address only, serving the
 * PeerStore to clients that prove they hold the secret (see peer-channel.ts). Anything else (a
 * wrong key, a replayed or altered frame, a malformed request, a length over the bound) closes
 * the connection before it reaches the store.
 */
export class PeerEndpoint {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly address: NodeAddress,
    private readonly keys: readonly Buffer[],
    private readonly store: PeerStore,
    private readonly limits: EndpointLimits,
    private readonly onRefused: (reason: Refusal, remote: string) => void = () => undefined,
  ) {
    this.server = createServer((socket) => this.accept(socket));
    // Peers are served while the app runs; the endpoint alone does not keep the process alive.
    this.server.unref();
  }

  /** Starts listening; rejects when the address cannot be bound (in use, not this host's). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.address.port, this.address.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** The port listened on (the configured one; a test may configure 0). */
  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : this.address.port;
  }

  /** Stops listening and closes every connection. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const refuse = (reason: Refusal) => {
      socket.destroy();
      this.onRefused(reason, remote);
    };
    socket.on('error', () => undefined);
    socket.unref();
    if (this.sockets.size >= this.limits.maxConnections) return refuse('too many connections');
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    const greeting = hello();
    socket.write(greeting.message);
    const incoming = new Incoming();
    let channel: FrameChannel | undefined;
    const subscriber = this.subscriberFor(socket, () => channel);
    socket.once('close', () => this.store.unsubscribe(subscriber));
    const timer = setTimeout(() => refuse('handshake timeout'), this.limits.handshakeTimeout);
    socket.once('close', () => clearTimeout(timer));
    socket.on('data', (chunk: Buffer) => {
      if (socket.destroyed) return;
      incoming.push(chunk);
      if (!channel) {
        const answer = incoming.take(CLIENT_PROOF_BYTES);
        if (!answer) return;
        const accepted = checkAnswer(this.keys, greeting.nonce, answer);
        if (!accepted) return refuse('handshake');
        clearTimeout(timer);
        socket.write(accepted.message);
        channel = new FrameChannel(socket, accepted.keys, this.limits.maxBody);
      }
      if (!socket.isPaused()) this.serve(socket, channel, incoming, refuse, subscriber);
    });
  }

  /**
   * Where messages published to this connection's subscription go: into its next frame, sent once
   * this turn's work is done. A subscriber that does not read (over SUBSCRIBER_BACKLOG bytes
   * waiting) is dropped, as Redis drops one over its output limit: it subscribes again and
   * catches up from a fresh state.
   */
  private subscriberFor(socket: Socket, channel: () => FrameChannel | undefined): Subscriber {
    let flushing = false;
    return (push) => {
      const frames = channel();
      if (!frames || socket.destroyed) return;
      if (socket.writableLength > SUBSCRIBER_BACKLOG) {
        socket.destroy();
        return;
      }
      frames.queue(encodeResponse(new Response(STATUS.message, 0n, push)));
      if (flushing) return;
      flushing = true;
      setImmediate(() => {
        flushing = false;
        if (!socket.destroyed) frames.flush();
      });
    };
  }

  /**
   * Answers every complete request; refuses the connection at the first bad frame or request. A
   * peer that sends requests without reading the answers is neither read from nor answered until
   * it catches up: its answers wait in one socket buffer, not in memory without bound.
   */
  private serve(socket: Socket, channel: FrameChannel, incoming: Incoming, refuse: (reason: Refusal) => void, subscriber: Subscriber): void {
    let body: Buffer;
    const messages = channel.messages(incoming);
    while (!socket.writableNeedDrain) {
      try {
        const next = messages.next();
        // The answers to what arrived together leave together.
        if (next.done) return channel.flush();
        body = next.value;
      } catch {
        return refuse('frame');
      }
      let response;
      try {
        response = this.store.answer(decodeRequest(body), subscriber);
      } catch {
        return refuse('request');
      }
      channel.queue(encodeResponse(response));
    }
    channel.flush();
    socket.pause();
    socket.once('drain', () => {
      socket.resume();
      this.serve(socket, channel, incoming, refuse, subscriber);
    });
  }
}
