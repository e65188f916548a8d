import { connect, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { DeadlineError } from '../../base/deadline.js';
import { NodeConnectionError } from '../call-fault.js';
import { answerHello, FrameChannel, HELLO_BYTES, Incoming, SERVER_PROOF_BYTES, type FrameKeys } from './peer-channel.js';
import { decodeResponse, encodeRequest, STATUS, type PeerRequest, type PeerResponse } from './peer-protocol.js';
import type { NodeAddress } from '../node-list.js';
import type { PeerTransport, PushListener } from './peer-node.js';

/** Settings of a connection to a peer. */
export interface ConnectionOptions {
  /** Deadline of every call, in ms. */
  operationTimeout: number;
  /** Largest response body accepted (a value plus the response header). */
  maxBody: number;
}

/** A call waiting for its answer (answers come in the order of the requests). */
interface Pending {
  what: string;
  resolve: (response: PeerResponse) => void;
  reject: (err: unknown) => void;
  /** performance.now() by which the answer is due. */
  deadline: number;
}

/** The peer did not prove it holds the secret, or does not speak this protocol. */
class HandshakeRefused extends Error {
  readonly code = 'EPEERAUTH';
}

/**
 * One connection to a peer's endpoint, opened on the first call and again after a failure:
 * authenticates (see peer-channel.ts), then pipelines requests (those made in one event-loop turn
 * share a frame). A call that misses its deadline drops the connection
 * (failing the calls queued on it with the same DeadlineError, counted once); a connection that
 * fails fails its calls with NodeConnectionError. Answers come in request order, so the oldest
 * pending call has the earliest deadline: one timer, armed for it, watches them all.
 */
export class PeerConnection implements PeerTransport {
  private socket: Socket | undefined;
  private channel: FrameChannel | undefined;
  /** Requests made before the handshake finished, sent once it does. */
  private outbox: Buffer[] = [];
  private pending: Pending[] = [];
  /**
   * The deadline timer, due at the oldest pending call's deadline or before it; left armed (and
   * unreferenced) when no call is pending, as setting a timer per call costs more than one spare run.
   */
  private timer: NodeJS.Timeout | undefined;
  /** A flush of the channel's queued requests is scheduled (setImmediate). */
  private flushing = false;
  /** Where pushed messages go, and who hears that a connection (and any subscription on it) ended. */
  private pushes?: PushListener;

  constructor(
    private readonly address: NodeAddress,
    private readonly key: Buffer,
    private readonly options: ConnectionOptions,
  ) {}

  request(request: PeerRequest, what: string): Promise<PeerResponse> {
    // An exception encoding the request (a key too long) is the request's fault: thrown before anything is sent.
    const body = encodeRequest(request);
    return new Promise<PeerResponse>((resolve, reject) => {
      this.pending.push({ what, resolve, reject, deadline: performance.now() + this.options.operationTimeout });
      if (this.timer) this.timer.ref();
      else this.timer = setTimeout(this.checkDeadline, this.options.operationTimeout);
      const socket = this.socket ?? this.open();
      socket.ref();
      if (this.channel) {
        this.channel.queue(body);
        // Sent once this turn's I/O callbacks have run: the calls of concurrent requests share a frame.
        if (!this.flushing) {
          this.flushing = true;
          setImmediate(this.flush);
        }
      } else this.outbox.push(body);
    });
  }

  /**
   * Fails the oldest call once its deadline has passed; else waits for it. A timer armed for a call
   * answered since finds the next one (a later deadline) and waits again.
   */
  private readonly checkDeadline = (): void => {
    this.timer = undefined;
    const oldest = this.pending[0];
    if (!oldest) return;
    const left = oldest.deadline - performance.now();
    if (left > 0) {
      // Timers count whole milliseconds: rounding up keeps the call from being failed early.
      this.timer = setTimeout(this.checkDeadline, Math.ceil(left));
      return;
    }
    const err = new DeadlineError(`peer ${this.address.id} ${oldest.what}`, this.options.operationTimeout);
    this.reset(() => err);
  };

  private readonly flush = (): void => {
    this.flushing = false;
    this.channel?.flush();
  };

  listen(pushes: PushListener): void {
    this.pushes = pushes;
  }

  close(): void {
    this.reset((what) => new NodeConnectionError(this.address.id, what, new Error('connection closed')));
  }

  private open(): Socket {
    const socket = connect({ host: this.address.host, port: this.address.port });
    this.socket = socket;
    socket.setNoDelay(true);
    const incoming = new Incoming();
    let expected: Buffer | undefined;
    let keys: FrameKeys | undefined;
    const fail = (cause: unknown) => {
      if (this.socket === socket) this.reset((what) => new NodeConnectionError(this.address.id, what, cause));
    };
    socket.on('error', fail);
    socket.on('close', () => fail(Object.assign(new Error('connection closed by the peer'), { code: 'ECONNRESET' })));
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      incoming.push(chunk);
      try {
        if (!this.channel) {
          if (!expected) {
            const greeting = incoming.take(HELLO_BYTES);
            if (!greeting) return;
            const answer = answerHello(this.key, greeting);
            if (!answer) throw new HandshakeRefused(`${this.address.host}:${this.address.port} is no peer endpoint`);
            socket.write(answer.message);
            expected = answer.expected;
            keys = answer.keys;
          }
          const proof = incoming.take(SERVER_PROOF_BYTES);
          if (!proof) return;
          if (!timingSafeEqual(proof, expected)) throw new HandshakeRefused('the peer did not prove it holds the secret (is its secret option the same?)');
          this.channel = new FrameChannel(socket, keys!, this.options.maxBody);
          for (const body of this.outbox) this.channel.queue(body);
          this.channel.flush();
          this.outbox = [];
        }
        for (const body of this.channel.messages(incoming)) {
          const response = decodeResponse(body);
          if (response.status === STATUS.message) {
            this.pushes?.message(response.value);
            continue;
          }
          const call = this.pending.shift();
          if (!call) throw new Error('an answer to no request');
          call.resolve(response);
        }
        if (this.pending.length === 0) {
          socket.unref();
          this.timer?.unref();
        }
      } catch (err) {
        fail(err);
      }
    });
    return socket;
  }

  /** Drops the connection and fails every call on it with `errorFor(call)`. */
  private reset(errorFor: (what: string) => unknown): void {
    if (this.socket) this.pushes?.lost();
    this.socket?.destroy();
    this.socket = undefined;
    this.channel = undefined;
    this.outbox = [];
    clearTimeout(this.timer);
    this.timer = undefined;
    const calls = this.pending;
    this.pending = [];
    for (const call of calls) call.reject(errorFor(call.what));
  }
}
