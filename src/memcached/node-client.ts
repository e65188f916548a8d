import memjs from 'memjs';
import { DeadlineError, withDeadline } from './deadline.js';
import { hardenMemjsServer } from './harden-memjs.js';
import type { MemcachedNodeAddress } from '../failover/node-list.js';

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

  private async call<T>(what: string, work: Promise<T>): Promise<T> {
    try {
      return await withDeadline(work, this.options.operationTimeout, `memcached ${this.node.id} ${what}`);
    } catch (err) {
      // A missed deadline means the connection is backed up or dead: drop it (failing the calls
      // queued on it) and start clean. memjs's own timer only fires on an idle socket, which a
      // busy connection never is.
      if (err instanceof DeadlineError) for (const server of this.servers) server.error(err);
      throw err;
    }
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
