import memjs from 'memjs';
import { DeadlineError, withDeadline } from './deadline.js';
import { hardenMemjsServer } from './harden-memjs.js';
import type { MemcachedNodeAddress } from '../failover/node-list.js';

/** Binary-protocol opcode of get-and-touch (GAT), which memjs does not expose. */
const OP_GAT = 0x1d;

/** The memjs internals a raw request needs (memjs.Client.perform and its sequence numbers). */
interface RawClient {
  seq: number;
  incrSeq(): void;
  perform(key: string, request: Buffer, seq: number, callback: (err: Error | null, response: RawResponse | null) => void): void;
}
interface RawResponse {
  header: { status: number };
  val: Buffer;
}
interface RawUtils {
  makeRequestBuffer(opcode: number, key: string, extras: Buffer, value: string, seq: number): Buffer;
  makeExpiration(expiration: number): Buffer;
}
const { makeRequestBuffer, makeExpiration } = (memjs as unknown as { Utils: RawUtils }).Utils;

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
    for (const server of this.servers) hardenMemjsServer(server);
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
    this.inFlight++;
    this.holdSockets(true);
    try {
      return await withDeadline(work, this.options.operationTimeout, `memcached ${this.node.id} ${what}`);
    } catch (err) {
      // A missed deadline means the connection is backed up or dead: drop it (failing the calls
      // queued on it) and start clean. memjs's own timer only fires on an idle socket, which a
      // busy connection never is.
      if (err instanceof DeadlineError) for (const server of this.servers) server.error(err);
      throw err;
    } finally {
      if (--this.inFlight === 0) this.holdSockets(false);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    const { value } = await this.call('get', this.client.get(key));
    return value ?? null;
  }

  /**
   * Get-and-touch: the value, with its expiration set to `expiration` in the same operation
   * (binary opcode 0x1d, sent raw since memjs has no call for it); null when the item is absent.
   */
  async getAndTouch(key: string, expiration: number): Promise<Buffer | null> {
    const client = this.client as unknown as RawClient;
    const answered = new Promise<Buffer | null>((resolve, reject) => {
      client.incrSeq();
      const request = makeRequestBuffer(OP_GAT, key, makeExpiration(expiration), '', client.seq);
      client.perform(key, request, client.seq, (err, response) => {
        if (err || !response) return reject(err ?? new Error('no response'));
        const { status } = response.header;
        if (status === 0) return resolve(response.val);
        if (status === 1) return resolve(null); // key not found
        reject(new Error(`memcached GAT failed with status ${status}`));
      });
    });
    return this.call('gat', answered);
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
