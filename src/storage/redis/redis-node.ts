import { DeadlineError } from '../../base/deadline.js';
import { cappedLifetime } from '../../base/lifetime.js';
import { NodeConnectionError } from '../call-fault.js';
import type { NodeAddress } from '../node-list.js';
import type { StorageNode, VersionedValue } from '../storage-node.js';
import { RedisMessages, type RedisCommands } from './redis-messages.js';
import { requireRedis, RedisConnection, type RedisArgument, type RedisNodeOptions } from './redis-connection.js';
import { redisError, RedisReplyError } from './redis-errors.js';
import { DELETE_IF, READ_AND_TOUCH, TOUCH, VERSION_MARK_KEY, WRITE, type RedisScript } from './redis-scripts.js';

export type { RedisNodeOptions } from './redis-connection.js';

/** A value read with its version: a class, not a literal (see LoadedSession in modes/session-mode.ts). */
class ValueAndVersion {
  constructor(
    readonly value: Buffer,
    readonly cas: bigint,
  ) {}
}

/** A lifetime in seconds as Redis milliseconds; 0 = never expires. */
function lifetimeMs(ttlSeconds: number): string {
  const seconds = cappedLifetime(ttlSeconds);
  return String(Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds * 1000) : 0);
}

/**
 * One Redis server (standalone: independent servers are placed by this package's ring, not Redis
 * Cluster): the Redis implementation of StorageNode, over node-redis. An item is a hash of its
 * value and a version the server assigns on every write (see redis-scripts.ts); versioned writes
 * are one Lua script each. Every call has a deadline.
 *
 * A version handed out is tagged with the connection it came over and only sent back over that
 * same connection: a restart always breaks the connection, so a restarted (emptied) server never
 * sees a version from before, whatever its clock or persistence.
 */
export class RedisNode implements StorageNode, RedisCommands {
  readonly kind = 'redis';
  readonly messages: RedisMessages;
  private connection?: RedisConnection;
  private connections = 0;
  private closed = false;

  /** Fails at once, naming the package, when the optional `redis` package is not installed. */
  constructor(
    readonly node: NodeAddress,
    private readonly options: RedisNodeOptions,
  ) {
    requireRedis();
    this.messages = new RedisMessages(node, options, this);
  }

  get id(): string {
    return this.node.id;
  }

  /** The open connection, or a new one when the last one failed. */
  private current(): RedisConnection {
    if (this.closed) throw this.closedError();
    if (!this.connection || this.connection.isClosed) this.connection = new RedisConnection(++this.connections, this.node, this.options);
    return this.connection;
  }

  /**
   * Runs `work` over the node's connection once it is ready, and fails when no outcome comes
   * within the operation timeout. A missed deadline means the connection is backed up or dead:
   * it is dropped (failing the calls on it) and the next call starts clean.
   */
  call<T>(what: string, work: (connection: RedisConnection) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let connection: RedisConnection;
      try {
        connection = this.current();
      } catch (err) {
        return reject(err);
      }
      let settled = false;
      const expire = () => {
        if (settled) return;
        settled = true;
        const err = new DeadlineError(`redis ${this.node.id} ${what}`, this.options.operationTimeout);
        reject(err);
        connection.close(err);
      };
      // Judged after this turn's I/O is read: an answer that arrived while the process was busy
      // (timers run before sockets are read) is not a missed deadline.
      const timer = setTimeout(() => setImmediate(expire), this.options.operationTimeout);
      // A call waiting for the connection is not sent once the connection was dropped.
      const send = () => (connection.droppedBy ? Promise.reject(connection.droppedBy) : work(connection));
      const outcome = connection.isReady ? send() : connection.ready.then(send);
      outcome.then(
        (result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(result);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          // A deadline another call missed drops the connection: the calls it fails stay DeadlineErrors (one event).
          reject(connection.droppedBy ?? (err instanceof NodeConnectionError || err instanceof RedisReplyError ? err : this.failure(what, err)));
        },
      );
    });
  }

  private failure(what: string, err: unknown): Error {
    return redisError(this.node.id, what, err, RedisConnection.isReply(err), this.options.username);
  }

  /** Runs a script: EVALSHA, or EVAL when the server does not have it yet (a new or restarted server). */
  async script<T>(connection: RedisConnection, script: RedisScript, keys: string[], args: RedisArgument[]): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await connection.send<T>(['EVALSHA', script.sha, ...tail]);
    } catch (err) {
      if (!RedisConnection.isReply(err) || !(err as Error).message.startsWith('NOSCRIPT')) throw err;
      return connection.send<T>(['EVAL', script.source, ...tail]);
    }
  }

  /** The version handed out for the server's `n`, tagged with the connection it came over. */
  private token(connection: RedisConnection, n: Buffer | string): bigint {
    return (BigInt(connection.serial) << 64n) | BigInt(n.toString());
  }

  /**
   * The server's version in `token` when it came over `connection` and that connection is still
   * ready; undefined otherwise (after a reconnection the version may name another item).
   */
  private versionOver(connection: RedisConnection | undefined, token: bigint): string | undefined {
    if (!connection?.isReady || BigInt(connection.serial) !== token >> 64n) return undefined;
    return BigInt.asUintN(64, token).toString();
  }

  get(key: string): Promise<Buffer | null> {
    return this.call('get', (c) => c.send<Buffer | null>(['HGET', key, 'v']));
  }

  /** One deadline for them all; the gets go out together (node-redis pipelines what is sent in one turn). */
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
    return this.call('get', (c) => Promise.all(keys.map((key) => c.send<Buffer | null>(['HGET', key, 'v']))));
  }

  gets(key: string): Promise<VersionedValue | null> {
    return this.call('get', async (c) => this.versioned(c, await c.send<Array<Buffer | null>>(['HMGET', key, 'v', 'n'])));
  }

  getAndTouch(key: string, ttlSeconds: number): Promise<VersionedValue | null> {
    return this.call('gat', async (c) => this.versioned(c, await this.script<Array<Buffer | null> | null>(c, READ_AND_TOUCH, [key], [lifetimeMs(ttlSeconds)])));
  }

  private versioned(connection: RedisConnection, item: Array<Buffer | null> | null): VersionedValue | null {
    const [value, n] = item ?? [];
    return value && n ? new ValueAndVersion(value, this.token(connection, n)) : null;
  }

  /** A version from an earlier connection is refused without a round trip. */
  storeIf(key: string, value: Buffer | string, ttlSeconds: number, version: bigint | undefined): Promise<bigint | null> {
    return this.conditionalWrite(version, (c, condition) => this.writeOver(c, key, value, ttlSeconds, condition), null);
  }

  /**
   * Runs a write conditional on `version` (undefined: the item must be absent) with the condition
   * its script takes (`add`, or the server's version); `refused` without a round trip when the
   * version came over an earlier connection.
   */
  conditionalWrite<T>(version: bigint | undefined, work: (connection: RedisConnection, condition: string) => Promise<T>, refused: T): Promise<T> {
    if (version === undefined) return this.call('add', (c) => work(c, 'add'));
    if (this.versionOver(this.connection, version) === undefined) return Promise.resolve(refused);
    return this.call('cas', (c) => {
      const n = this.versionOver(c, version);
      return n === undefined ? Promise.resolve(refused) : work(c, n);
    });
  }

  deleteIf(key: string, version: bigint): Promise<boolean> {
    const n = this.versionOver(this.connection, version);
    if (n === undefined) return Promise.resolve(false);
    return this.call('delete', async (c) => this.versionOver(c, version) !== undefined && (await this.script<number>(c, DELETE_IF, [key], [n])) === 1);
  }

  set(key: string, value: Buffer | string, ttlSeconds: number): Promise<void> {
    return this.write('set', key, value, ttlSeconds, 'set').then(() => undefined);
  }

  async add(key: string, value: Buffer | string, ttlSeconds: number): Promise<boolean> {
    return (await this.write('add', key, value, ttlSeconds, 'add')) !== null;
  }

  private write(what: string, key: string, value: Buffer | string, ttlSeconds: number, condition: 'set' | 'add'): Promise<bigint | null> {
    return this.call(what, (c) => this.writeOver(c, key, value, ttlSeconds, condition));
  }

  private async writeOver(connection: RedisConnection, key: string, value: Buffer | string, ttlSeconds: number, condition: string): Promise<bigint | null> {
    const bytes = Buffer.byteLength(value);
    if (bytes > connection.maxArgumentBytes) {
      throw new RedisReplyError(this.node.id, 'set', `value of ${bytes} bytes exceeds maximum allowed size (proto-max-bulk-len ${connection.maxArgumentBytes}): not sent`);
    }
    const n = await this.script<Buffer | null>(connection, WRITE, [key, VERSION_MARK_KEY], [value, lifetimeMs(ttlSeconds), condition]);
    return n === null ? null : this.token(connection, n);
  }

  touch(key: string, ttlSeconds: number): Promise<boolean> {
    return this.call('touch', async (c) => (await this.script<number>(c, TOUCH, [key], [lifetimeMs(ttlSeconds)])) === 1);
  }

  delete(key: string): Promise<boolean> {
    return this.call('delete', async (c) => (await c.send<number>(['DEL', key])) === 1);
  }

  /** "run_id R": Redis's random id of the process, new on every start. */
  instance(): Promise<string> {
    return this.call('info', async (c) => {
      const info = (await c.send<Buffer>(['INFO', 'server'])).toString();
      const runId = /^run_id:(\w+)/m.exec(info)?.[1];
      if (!runId) throw new NodeConnectionError(`redis ${this.node.id}`, 'info', new Error('INFO server has no run_id'));
      return `run_id ${runId}`;
    });
  }

  close(): void {
    this.closed = true;
    this.messages.close();
    this.connection?.close(this.closedError());
  }

  private closedError(): NodeConnectionError {
    return new NodeConnectionError(`redis ${this.node.id}`, 'call', new Error('the session manager was closed'));
  }
}
