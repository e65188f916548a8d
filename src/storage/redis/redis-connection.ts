import type { ConnectionOptions } from 'node:tls';
import type * as Redis from 'redis';
import { loadOptionalPeer } from '../../base/optional-peer.js';
import type { NodeAddress } from '../node-list.js';

/** Connection settings shared by every Redis node. */
export interface RedisNodeOptions {
  operationTimeout: number;
  /** ACL user (Redis 6+); without it, `password` authenticates the default user. */
  username?: string;
  password?: string;
  /** TLS: true, or Node's tls.connect options (ca, cert, key, servername, ...). */
  tls?: boolean | ConnectionOptions;
}

type RedisModule = typeof Redis;
type RedisClient = ReturnType<RedisModule['createClient']>;
/** An argument of a Redis command. */
export type RedisArgument = string | Buffer;

/** Redis's default proto-max-bulk-len (512 MB). */
const DEFAULT_MAX_BULK = 512 * 1024 * 1024;

let redisModule: RedisModule | undefined;
/** node-redis, an optional peer dependency: loaded when the first Redis node is built. */
function loadRedis(): RedisModule {
  redisModule ??= loadOptionalPeer<RedisModule>('redis', 'the redisNodes option');
  return redisModule;
}

/** Fails, naming the package, when the optional `redis` package is not installed. */
export function requireRedis(): void {
  loadRedis();
}

/**
 * One connection to a Redis server: one node-redis client that never reconnects by itself. When
 * it fails, every command on it fails with the same error, and the node opens a new one for its
 * next call: a version is only ever sent back over the connection it came from (see RedisNode).
 * No offline queue: a command is sent at once over a ready connection, or not at all.
 */
export class RedisConnection {
  private readonly client: RedisClient;
  /** Settles once the connection is ready (authenticated), or with why it could not be made. */
  readonly ready: Promise<void>;

  constructor(
    /** Counts the node's connections: this one's number. */
    readonly serial: number,
    node: NodeAddress,
    options: RedisNodeOptions,
  ) {
    const tls = options.tls ? { tls: true as const, ...(options.tls === true ? {} : options.tls) } : {};
    this.client = loadRedis().createClient({
      socket: { host: node.host, port: node.port, connectTimeout: options.operationTimeout, reconnectStrategy: false, ...tls },
      username: options.username,
      password: options.password,
      disableOfflineQueue: true,
      // CLIENT SETINFO costs two commands per connection and older servers refuse it.
      disableClientInfo: true,
    });
    // Every failure is also reported by the commands it fails; without a listener it would throw.
    this.client.on('error', () => undefined);
    // The deadline timer of each call in flight keeps the process alive; an idle connection must not.
    this.client.unref();
    this.ready = this.client.connect().then(() => this.readBulkLimit());
    this.ready.catch(() => undefined);
  }

  /**
   * The longest argument the server takes (its proto-max-bulk-len): a longer one makes it close
   * the connection, which would look like a node fault, so writes check it before sending.
   */
  maxArgumentBytes = DEFAULT_MAX_BULK;

  /** Reads the server's proto-max-bulk-len; a server that does not tell (ACL, managed service) keeps Redis's default. */
  private async readBulkLimit(): Promise<void> {
    try {
      const reply = await this.client.sendCommand<string[]>(['CONFIG', 'GET', 'proto-max-bulk-len']);
      const limit = Number(reply?.[1]);
      if (limit > 0) this.maxArgumentBytes = limit;
    } catch {
      // Not allowed or not there: the default stands.
    }
  }

  /** Open and authenticated: a command sent now goes over this connection. */
  get isReady(): boolean {
    return this.client.isReady;
  }

  /** Gone for good (failed, closed or dropped): the node needs a new connection. */
  get isClosed(): boolean {
    return this.droppedBy !== undefined || !this.client.isOpen;
  }

  /** Sends one command at once (no queueing for a later connection); bulk replies as Buffers. */
  send<T>(args: RedisArgument[]): Promise<T> {
    return this.client.sendCommand<T>(args, { returnBuffers: true });
  }

  /**
   * Subscribes to `channels` (the connection then carries nothing else); messages as Buffers.
   * Resolves once the server confirmed.
   */
  subscribe(channels: readonly string[], listener: (channel: string, message: Buffer) => void): Promise<void> {
    return this.client.subscribe([...channels], (message: Buffer, channel: Buffer) => listener(channel.toString(), message), true);
  }

  /** Whether `err` is an error reply of the server (not a failure of the connection). */
  static isReply(err: unknown): boolean {
    return err instanceof loadRedis().ErrorReply;
  }

  /** Why this connection was dropped, once it was: the calls it fails fail for that reason. */
  droppedBy?: Error;

  /**
   * Drops the connection, failing every command in flight on it. One still connecting is closed
   * once it is ready: node-redis cannot close it before.
   */
  close(reason: Error = new Error('connection closed')): void {
    this.droppedBy ??= reason;
    if (this.client.isReady || !this.client.isOpen) void this.client.disconnect().catch(() => undefined);
    else this.ready.then(() => this.client.disconnect()).catch(() => undefined);
  }
}
