import net from 'node:net';
import type { ProtocolTrace } from './protocol-trace.js';

/**
 * A loopback TCP proxy in front of one memcached node, so a test can make the node
 * unreachable (connections reset, new ones refused) or silent (new ones held) while it keeps its data.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;
  private holding = false;
  /** Connections accepted while holding, not yet connected to the node. */
  private readonly held: net.Socket[] = [];
  /** Added to every reply from the node, in ms (a slow node that still answers). */
  replyDelay = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    /** Records the traffic, per key, under this node name. */
    private readonly trace?: { log: ProtocolTrace; node: string },
  ) {}

  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.blocked) return client.destroy();
      if (!this.holding) return this.forward(client);
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      this.held.push(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Connects `client` to the node and passes the traffic both ways (a held client's requests go now). */
  private forward(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      // The same delay for every chunk keeps them in order.
      if (this.replyDelay > 0) setTimeout(() => client.write(chunk), this.replyDelay);
      else client.write(chunk);
    });
    if (this.trace) {
      const hooks = this.trace.log.connection(this.trace.node);
      client.on('data', hooks.request);
      upstream.on('data', hooks.response);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Cuts every connection and refuses new ones. */
  block(): void {
    this.blocked = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /**
   * Cuts every connection; new ones are accepted, and their requests wait unanswered until
   * unblock(). So docker-proxy treats a container that is starting: it accepts at once and
   * delivers once the container's port answers.
   */
  hold(): void {
    this.block();
    this.blocked = false;
    this.holding = true;
  }

  /** Passes traffic again: held connections still open are connected to the node. */
  unblock(): void {
    this.blocked = false;
    this.holding = false;
    for (const client of this.held.splice(0)) if (!client.destroyed) this.forward(client);
  }

  async stop(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
