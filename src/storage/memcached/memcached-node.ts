import memjs from 'memjs';
import { DeadlineError } from '../../base/deadline.js';
import { memjsConnection, type MemjsConnection, type MemjsResponse } from './memjs-internals.js';
import { connectionError, MemcachedResponseError, STATUS } from './memcached-errors.js';
import { OPCODE, requestBuffer } from './binary-request.js';
import { memcachedExpiration } from './expiration.js';
import type { NodeAddress } from '../node-list.js';
import type { StorageNode, VersionedValue } from '../storage-node.js';

/** A value read with its CAS: a class, not a literal (see LoadedSession in modes/session-mode.ts). */
class ValueAndCas {
  constructor(
    readonly value: Buffer,
    readonly cas: bigint,
  ) {}
}

/** memjs's own response timeout, in seconds: out of the way of the per-call deadlines. */
const MEMJS_RESPONSE_TIMEOUT_S = 3600;

/** Connection settings shared by every memcached node. */
export interface MemcachedNodeOptions {
  operationTimeout: number;
  username?: string;
  password?: string;
}

/**
 * One memcached node, over the binary protocol (memjs, one client per node so that routing
 * stays ours): the memcached implementation of StorageNode. Every call has a deadline; versions
 * are CAS values tagged with the connection they came over.
 */
export class MemcachedNode implements StorageNode {
  readonly kind = 'memcached';
  private readonly client: memjs.Client;
  /** memjs's connection to the node, taken over by memjs-internals.ts. */
  private readonly line: MemjsConnection;
  private inFlight = 0;

  constructor(
    readonly node: NodeAddress,
    private readonly options: MemcachedNodeOptions,
  ) {
    const host = node.host.includes(':') ? `[${node.host}]` : node.host;
    this.client = memjs.Client.create(`${host}:${node.port}`, {
      username: options.username,
      password: options.password,
      // Each call's own deadline (see call) judges replies; memjs's response timer would fire in
      // the timers phase, before a reply that waited out an event-loop stall is read.
      timeout: MEMJS_RESPONSE_TIMEOUT_S,
      conntimeout: options.operationTimeout / 1000,
      retries: 0,
      keepAlive: true,
      // memjs logs each failure; node health reports them once instead.
      logger: { log: () => undefined } as unknown as Console,
    });
    this.line = memjsConnection(this.client);
  }

  get id(): string {
    return this.node.id;
  }

  /**
   * The CAS handed out: memcached's, tagged with the connection it came over. A restarted
   * memcached counts CAS values from 1 again, so an old CAS may name a different item of the new
   * process; a restart always breaks the connection, so a CAS from an earlier one is never sent.
   */
  private casToken(raw: Buffer): bigint {
    return (BigInt(this.line.connection() ?? 0) << 64n) | raw.readBigUInt64BE(0);
  }

  /** The memcached CAS of a token, or undefined when it came over an earlier connection. */
  private casOf(token: bigint): bigint | undefined {
    const connection = this.line.connection();
    return connection !== undefined && token >> 64n === BigInt(connection) ? BigInt.asUintN(64, token) : undefined;
  }

  /**
   * Runs one call: `start` sends it and reports its outcome through `done`. It fails when no
   * outcome comes within the operation timeout. One promise and one timer per call.
   */
  private call<T>(what: string, start: (done: (err: unknown, result?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done = (err: unknown, result?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // An idle connection must not keep the process alive (an app or test runner that never calls close() still exits).
        if (--this.inFlight === 0) this.line.holdSockets(false);
        if (err === undefined) resolve(result as T);
        else reject(err);
      };
      const expire = () => {
        if (settled) return;
        const err = new DeadlineError(`memcached ${this.node.id} ${what}`, this.options.operationTimeout);
        done(err);
        // A missed deadline means the connection is backed up or dead: drop it (failing the calls
        // queued on it) and start clean. memjs's own timer only fires on an idle socket, which a
        // busy connection never is.
        this.line.reset(err);
      };
      // Judged after this turn's I/O is read: an answer that arrived while the process was busy
      // (timers run before sockets are read) is not a missed deadline.
      const timer = setTimeout(() => setImmediate(expire), this.options.operationTimeout);
      if (this.inFlight++ === 0) this.line.holdSockets(true);
      try {
        start(done);
      } catch (err) {
        done(err);
      }
    });
  }

  /**
   * Sends one binary-protocol request over memjs's connection and settles with `interpret(answer)`,
   * called as the answer arrives (so a CAS is tagged with the connection it came over).
   */
  private send<T>(what: string, opcode: number, key: string, extras: 0 | 4 | 8, expiration: number, value: Buffer | string, cas: bigint, interpret: (response: MemjsResponse) => T): Promise<T> {
    return this.call<T>(what, (done) =>
      this.line.send(
        // An exception building the request (an argument out of range) is the request's fault.
        (seq) => requestBuffer(opcode, key, extras, expiration, value, seq, cas),
        (response) => {
          let result: T;
          try {
            result = interpret(response);
          } catch (err) {
            return done(err);
          }
          done(undefined, result);
        },
        // A deadline another call missed drops the connection with that error: it stays a DeadlineError.
        (err) => done(err instanceof DeadlineError ? err : connectionError(this.node.id, what, err, this.options.username)),
      ),
    );
  }

  gets(key: string): Promise<VersionedValue | null> {
    return this.send('get', OPCODE.get, key, 0, 0, '', 0n, (response) => this.valueAndCas(response, 'get'));
  }

  getAndTouch(key: string, ttlSeconds: number): Promise<VersionedValue | null> {
    return this.send('gat', OPCODE.getAndTouch, key, 4, memcachedExpiration(ttlSeconds), '', 0n, (response) => this.valueAndCas(response, 'gat'));
  }

  private valueAndCas(response: MemjsResponse, what: string): VersionedValue | null {
    const { status } = response.header;
    if (status === STATUS.notFound) return null;
    if (status !== STATUS.ok) throw new MemcachedResponseError(status, this.node.id, what);
    return new ValueAndCas(response.val, this.casToken(response.header.cas));
  }

  /** A CAS from an earlier connection is refused without a round trip: it may name another item of a restarted node. */
  storeIf(key: string, value: Buffer | string, ttlSeconds: number, cas: bigint | undefined): Promise<bigint | null> {
    const raw = cas === undefined ? 0n : this.casOf(cas);
    if (raw === undefined) return Promise.resolve(null);
    const what = cas === undefined ? 'add' : 'cas';
    const opcode = cas === undefined ? OPCODE.add : OPCODE.set;
    return this.send(what, opcode, key, 8, memcachedExpiration(ttlSeconds), value, raw, (response) => {
      const { status } = response.header;
      if (status === STATUS.ok) return this.casToken(response.header.cas);
      if (status === STATUS.exists || status === STATUS.notFound || status === STATUS.notStored) return null;
      throw new MemcachedResponseError(status, this.node.id, what);
    });
  }

  deleteIf(key: string, cas: bigint): Promise<boolean> {
    const raw = this.casOf(cas);
    if (raw === undefined) return Promise.resolve(false);
    return this.send('delete', OPCODE.delete, key, 0, 0, '', raw, (response) => response.header.status === STATUS.ok);
  }

  get(key: string): Promise<Buffer | null> {
    return this.send('get', OPCODE.get, key, 0, 0, '', 0n, (response) => (this.found(response, STATUS.notFound, 'get') ? response.val : null));
  }

  /** memjs has no multi-get: gets sent together are pipelined on the node's one connection. */
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  set(key: string, value: Buffer | string, ttlSeconds: number): Promise<void> {
    return this.send('set', OPCODE.set, key, 8, memcachedExpiration(ttlSeconds), value, 0n, (response) => {
      if (response.header.status !== STATUS.ok) throw new MemcachedResponseError(response.header.status, this.node.id, 'set');
    });
  }

  add(key: string, value: Buffer | string, ttlSeconds: number): Promise<boolean> {
    return this.send('add', OPCODE.add, key, 8, memcachedExpiration(ttlSeconds), value, 0n, (response) => this.found(response, STATUS.exists, 'add'));
  }

  touch(key: string, ttlSeconds: number): Promise<boolean> {
    return this.send('touch', OPCODE.touch, key, 4, memcachedExpiration(ttlSeconds), '', 0n, (response) => this.found(response, STATUS.notFound, 'touch'));
  }

  delete(key: string): Promise<boolean> {
    return this.send('delete', OPCODE.delete, key, 0, 0, '', 0n, (response) => this.found(response, STATUS.notFound, 'delete'));
  }

  /** True for ok, false for the status that means "not done" (`refused`); any other status is an error answer. */
  private found(response: MemjsResponse, refused: number, what: string): boolean {
    const { status } = response.header;
    if (status === STATUS.ok) return true;
    if (status === refused) return false;
    throw new MemcachedResponseError(status, this.node.id, what);
  }

  /**
   * "pid P started at T" (T in Unix seconds, `time - uptime`): `stats` touches no item and counts
   * toward no get/set. The start time tells a restart where the process id cannot: in a container
   * memcached is always process 1.
   */
  instance(): Promise<string> {
    return this.call('stats', (done) =>
      this.client.stats((err, _server, stats) =>
        err
          ? done(connectionError(this.node.id, 'stats', err, this.options.username))
          : done(undefined, `pid ${Number(stats?.pid ?? 0)} started at ${Number(stats?.time ?? 0) - Number(stats?.uptime ?? 0)}`),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
