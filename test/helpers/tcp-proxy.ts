import net from 'node:net';
import type { ProtocolTrace } from './protocol-trace.js';

/**
 * A loopback TCP proxy in front of one memcached node, so a test can make the node
 * unreachable (connections reset, new ones refused) while it keeps its data.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;
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
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Cuts every connection and refuses new ones. */
  block(): void {
    this.blocked = true;
    for (const socket of this.sockets) socket.destroy();
  }

  unblock(): void {
    this.blocked = false;
  }

  async stop(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
