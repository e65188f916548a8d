import { DeadlineError } from '../../base/deadline.js';
import { KeptSubscription } from '../kept-subscription.js';
import type { NodeAddress } from '../node-list.js';
import type { NodeMessages, PublishedWrite } from '../storage-node.js';
import { RedisConnection, type RedisArgument, type RedisNodeOptions } from './redis-connection.js';
import { PUBLISH_STATE, VERSION_MARK_KEY, WRITE_AND_PUBLISH, type RedisScript } from './redis-scripts.js';

/** What RedisMessages uses of its node: its calls with their deadline, its scripts, its conditional writes. */
export interface RedisCommands {
  call<T>(what: string, work: (connection: RedisConnection) => Promise<T>): Promise<T>;
  script<T>(connection: RedisConnection, script: RedisScript, keys: string[], args: RedisArgument[]): Promise<T>;
  /** See RedisNode.conditionalWrite. */
  conditionalWrite<T>(version: bigint | undefined, work: (connection: RedisConnection, condition: string) => Promise<T>, refused: T): Promise<T>;
}

const REFUSED: PublishedWrite = { order: null, receivers: 0 };

/**
 * Redis pub/sub for one node: PUBLISH over the node's command connection, and one subscription
 * on a connection of its own (a subscribed connection carries nothing else), opened again
 * whenever it drops.
 */
export class RedisMessages implements NodeMessages {
  private subscription?: RedisConnection;
  private kept?: KeptSubscription;
  private closed = false;

  constructor(
    private readonly node: NodeAddress,
    private readonly options: RedisNodeOptions,
    private readonly commands: RedisCommands,
  ) {}

  publish(channel: string, message: string): Promise<number> {
    return this.commands.call('publish', (c) => c.send<number>(['PUBLISH', channel, message]));
  }

  storeIfAndPublish(key: string, value: Buffer, version: bigint | undefined, channel: string, replyTo: string): Promise<PublishedWrite> {
    return this.commands.conditionalWrite(
      version,
      async (c, condition) => {
        const reply = await this.commands.script<[Buffer, number] | null>(c, WRITE_AND_PUBLISH, [key, VERSION_MARK_KEY], [value, '0', condition, channel, replyTo]);
        return reply ? { order: BigInt(reply[0].toString()), receivers: Number(reply[1]) } : REFUSED;
      },
      REFUSED,
    );
  }

  publishState(channel: string, tag: string, key: string): Promise<number> {
    return this.commands.call('publish', (c) => this.commands.script<number>(c, PUBLISH_STATE, [key], [channel, tag]));
  }

  subscribe(channels: readonly string[], listener: (channel: string, message: Buffer) => void, onOpen: () => void): void {
    if (this.kept) throw new Error(`redis ${this.node.id}: one subscription per node`);
    const open = async () => {
      if (this.closed) return;
      const connection = new RedisConnection(0, this.node, this.options);
      this.subscription = connection;
      const deadline = setTimeout(() => connection.close(new DeadlineError(`redis ${this.node.id} subscribe`, this.options.operationTimeout)), this.options.operationTimeout);
      try {
        await connection.ready;
        await connection.subscribe(channels, listener);
      } catch (err) {
        connection.close();
        throw err;
      } finally {
        clearTimeout(deadline);
      }
      if (!connection.isClosed && !this.closed) onOpen();
    };
    this.kept = new KeptSubscription(open, () => this.subscription !== undefined && !this.subscription.isClosed);
  }

  close(): void {
    this.closed = true;
    this.kept?.close();
    this.subscription?.close();
  }
}
