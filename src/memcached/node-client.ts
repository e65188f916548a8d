import memjs from 'memjs';
import { DeadlineError, withDeadline } from './deadline.js';
import { hardenMemjsServer } from './harden-memjs.js';
import { batchWrites, type BatchableServer } from './write-batching.js';
import { fromMemjsError, MemcachedResponseError, STATUS } from './response-error.js';
import type { MemcachedNodeAddress } from '../failover/node-list.js';

/** Binary protocol opcodes sent directly. */
const OPCODE = { get: 0x00, set: 0x01, add: 0x02, delete: 0x04, getAndTouch: 0x1d } as const;

interface RawResponse {
  header: { status: number; cas: Buffer };
  val: Buffer;
}

/** The memjs internals used to send a request memjs has no method for. */
interface RawClient {
  seq: number;
  incrSeq(): void;
  perform(key: string, request: Buffer, seq: number, callback: (err: Error | null, response?: RawResponse) => void): void;
}

/** Connection settings shared by every node client. */
export interface NodeClientOptions {
  operationTimeout: number;
  username?: string;
  password?: string;
}

/**
 * One memcached node, over the binary protocol (memjs, one client per node so that routing
 * stays ours). Every call has a deadline; expirations are passed as memcached expects them.
 */
export class NodeClient {
  private readonly client: memjs.Client;
  private readonly servers: Parameters<typeof hardenMemjsServer>[0][];
  /** The number of the node's live connection (see casToken). */
  private readonly connection: () => number | undefined;
  private inFlight = 0;

  constructor(
    readonly node: MemcachedNodeAddress,
    private readonly options: NodeClientOptions,
  ) {
    const host = node.host.includes(':') ? `[${node.host}]` : node.host;
    this.client = memjs.Client.create(`${host}:${node.port}`, {
      username: options.username,
      password: options.password,
      timeout: options.operationTimeout / 1000,
      conntimeout: options.operationTimeout / 1000,
      retries: 0,
      keepAlive: true,
      // memjs logs each failure; node health reports them once instead.
      logger: { log: () => undefined } as unknown as Console,
    });
    this.servers = (this.client as unknown as { servers: Parameters<typeof hardenMemjsServer>[0][] }).servers;
    const connections = this.servers.map((server) => {
      const hardened = hardenMemjsServer(server);
      batchWrites(server as unknown as BatchableServer);
      return hardened;
    });
    this.connection = connections[0].connection;
  }

  /**
   * The CAS handed out: memcached's, tagged with the connection it came over. A restarted
   * memcached counts CAS values from 1 again, so an old CAS may name a different item of the new
   * process; a restart always breaks the connection, so a CAS from an earlier one is never sent.
   */
  private casToken(raw: Buffer): bigint {
    return (BigInt(this.connection() ?? 0) << 64n) | raw.readBigUInt64BE(0);
  }

  /** The memcached CAS of a token, or undefined when it came over an earlier connection. */
  private casOf(token: bigint): bigint | undefined {
    const connection = this.connection();
    return connection !== undefined && token >> 64n === BigInt(connection) ? BigInt.asUintN(64, token) : undefined;
  }

  /**
   * An idle connection must not keep the process alive (an app or test runner that never calls
   * close() still exits): sockets are referenced only while a call is outstanding.
   */
  private holdSockets(hold: boolean): void {
    for (const server of this.servers) {
      if (hold) server._socket?.ref();
      else server._socket?.unref();
    }
  }

  private async call<T>(what: string, work: Promise<T>): Promise<T> {
    if (this.inFlight++ === 0) this.holdSockets(true);
    try {
      return await withDeadline(work, this.options.operationTimeout, `memcached ${this.node.id} ${what}`);
    } catch (err) {
      // A missed deadline means the connection is backed up or dead: drop it (failing the calls
      // queued on it) and start clean. memjs's own timer only fires on an idle socket, which a
      // busy connection never is.
      if (err instanceof DeadlineError) for (const server of this.servers) server.error(err);
      throw fromMemjsError(err, this.node.id, what) ?? err;
    } finally {
      if (--this.inFlight === 0) this.holdSockets(false);
    }
  }

  /** Sends one binary-protocol request (for what memjs's API lacks: CAS, get-and-touch) and resolves with the raw answer. */
  private request(what: string, opcode: number, key: string, extras: Buffer, value: Buffer | string, cas = 0n): Promise<RawResponse> {
    const client = this.client as unknown as RawClient;
    client.incrSeq();
    const buffer = memjs.Utils.makeRequestBuffer(opcode, key, extras, value as Buffer, client.seq) as Buffer;
    buffer.writeBigUInt64BE(cas, 16);
    const answered = new Promise<RawResponse>((resolve, reject) =>
      client.perform(key, buffer, client.seq, (err, response) => (err || !response ? reject(err ?? new Error('no response')) : resolve(response))),
    );
    return this.call(what, answered);
  }

  /** A value and its CAS, or null when absent. */
  gets(key: string): Promise<{ value: Buffer; cas: bigint } | null> {
    return this.read('get', OPCODE.get, key, Buffer.alloc(0));
  }

  /**
   * Get-and-touch: the value and its CAS, with its expiration set to `expiration` in the same
   * operation; null when the item is absent.
   */
  getAndTouch(key: string, expiration: number): Promise<{ value: Buffer; cas: bigint } | null> {
    const extras = Buffer.alloc(4);
    extras.writeUInt32BE(expiration, 0);
    return this.read('gat', OPCODE.getAndTouch, key, extras);
  }

  private async read(what: string, opcode: number, key: string, extras: Buffer): Promise<{ value: Buffer; cas: bigint } | null> {
    const response = await this.request(what, opcode, key, extras, '');
    if (response.header.status === STATUS.notFound) return null;
    if (response.header.status !== STATUS.ok) throw new MemcachedResponseError(response.header.status, this.node.id, what);
    return { value: response.val, cas: this.casToken(response.header.cas) };
  }

  /**
   * Stores `value` only if the item is absent (`cas` undefined: add) or still has CAS `cas`.
   * Resolves with the item's new CAS, or null when it was refused because the item changed
   * (or may have: `cas` came over an earlier connection).
   */
  async storeIf(key: string, value: Buffer | string, expiration: number, cas: bigint | undefined): Promise<bigint | null> {
    const raw = cas === undefined ? 0n : this.casOf(cas);
    if (raw === undefined) return null;
    const extras = Buffer.alloc(8);
    extras.writeUInt32BE(expiration, 4);
    const opcode = cas === undefined ? OPCODE.add : OPCODE.set;
    const response = await this.request(cas === undefined ? 'add' : 'cas', opcode, key, extras, value, raw);
    const { status } = response.header;
    if (status === STATUS.ok) return this.casToken(response.header.cas);
    if (status === STATUS.exists || status === STATUS.notFound || status === STATUS.notStored) return null;
    throw new MemcachedResponseError(status, this.node.id, cas === undefined ? 'add' : 'cas');
  }

  /** Deletes the item only if it still has CAS `cas`; false when it changed, is gone, or `cas` came over an earlier connection. */
  async deleteIf(key: string, cas: bigint): Promise<boolean> {
    const raw = this.casOf(cas);
    if (raw === undefined) return false;
    const response = await this.request('delete', OPCODE.delete, key, Buffer.alloc(0), '', raw);
    return response.header.status === STATUS.ok;
  }

  async get(key: string): Promise<Buffer | null> {
    const { value } = await this.call('get', this.client.get(key));
    return value ?? null;
  }

  async set(key: string, value: Buffer | string, expiration: number): Promise<void> {
    await this.call('set', this.client.set(key, value as Buffer, { expires: expiration }));
  }

  /** Stores only if absent; false when the key exists. */
  async add(key: string, value: Buffer | string, expiration: number): Promise<boolean> {
    return this.call('add', this.client.add(key, value as Buffer, { expires: expiration }));
  }

  /** Extends an item's expiration; false when the item is gone. */
  async touch(key: string, expiration: number): Promise<boolean> {
    return this.call('touch', this.client.touch(key, expiration));
  }

  async delete(key: string): Promise<boolean> {
    return this.call('delete', this.client.delete(key));
  }

  /**
   * The node's process id and start time in Unix seconds (`time - uptime`), a health check:
   * `stats` touches no item and counts toward no get/set. The start time tells a restart where
   * the process id cannot: in a container memcached is always process 1.
   */
  async processId(): Promise<{ pid: number; startedAt: number }> {
    const answered = new Promise<{ pid: number; startedAt: number }>((resolve, reject) => {
      this.client.stats((err, _server, stats) =>
        err ? reject(err) : resolve({ pid: Number(stats?.pid ?? 0), startedAt: Number(stats?.time ?? 0) - Number(stats?.uptime ?? 0) }),
      );
    });
    return this.call('stats', answered);
  }

  close(): void {
    this.client.close();
  }
}
