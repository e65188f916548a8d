import { DeadlineError } from '../../base/deadline.js';
import type { NodeAddress } from '../node-list.js';
import type { NodeMessages, PublishedWrite } from '../storage-node.js';
import { RedisConnection, type RedisArgument, type RedisNodeOptions } from './redis-connection.js';
import { PUBLISH_STATE, VERSION_MARK_KEY, WRITE_AND_PUBLISH, type RedisScript } from './redis-scripts.js';

/** How often a dropped subscription is looked for and opened again, in ms. */
const RESUBSCRIBE_INTERVAL = 100;
/** After a subscription failed to open, the wait before the next try doubles up to this, in ms. */
const MAX_RESUBSCRIBE_DELAY = 5000;

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
  private timer?: NodeJS.Timeout;
  /** Failed tries to open the subscription in a row, and when the next may start (performance.now()). */
  private failures = 0;
  private nextTry = 0;
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
    if (this.timer) throw new Error(`redis ${this.node.id}: one subscription per node`);
    const open = () => {
      if (this.closed) return;
      const connection = new RedisConnection(0, this.node, this.options);
      this.subscription = connection;
      const deadline = setTimeout(() => connection.close(new DeadlineError(`redis ${this.node.id} subscribe`, this.options.operationTimeout)), this.options.operationTimeout);
      connection.ready
        .then(() => connection.subscribe(channels, listener))
        .then(
          () => {
            clearTimeout(deadline);
            this.failures = 0;
            if (!connection.isClosed && !this.closed) onOpen();
          },
          () => {
            clearTimeout(deadline);
            connection.close();
            // A node that refuses (no channel permission, down) is not asked ten times a second.
            this.failures++;
            this.nextTry = performance.now() + Math.min(MAX_RESUBSCRIBE_DELAY, RESUBSCRIBE_INTERVAL * 2 ** this.failures);
          },
        );
    };
    open();
    this.timer = setInterval(() => {
      if (this.subscription?.isClosed && performance.now() >= this.nextTry) open();
    }, RESUBSCRIBE_INTERVAL);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.subscription?.close();
  }
}
