import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { routeOf } from '../modes/sticky/route.js';

export interface BalancedApp {
  route: string;
  port: number;
}

/** The route inside a signed session cookie: `s:<id>.<route>.<signature>` → `<route>`. */
export function routeFromCookie(header: string | undefined, cookieName = 'connect.sid'): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const [name, ...rest] = pair.trim().split('=');
    if (name !== cookieName) continue;
    let value = rest.join('=');
    try {
      value = decodeURIComponent(value);
    } catch {
      return undefined;
    }
    if (!value.startsWith('s:')) return undefined;
    const unsigned = value.slice(2, value.lastIndexOf('.'));
    return routeOf(unsigned);
  }
  return undefined;
}

/**
 * A small sticky load balancer for the demo when nginx is not installed: requests carrying a
 * session cookie go to the app node named by the route in it; others, and requests whose node
 * refuses the connection, go round robin to the next node (which takes the session over).
 */
export class BuiltinBalancer {
  private readonly server: http.Server;
  private next = 0;
  port = 0;

  constructor(
    private readonly apps: () => BalancedApp[],
    private readonly controlPort: number,
    private readonly sticky: boolean,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async listen(port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', resolve);
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** App ports in the order to try: the routed node first, then round robin. */
  private candidates(req: http.IncomingMessage): number[] {
    const apps = this.apps();
    const ordered = apps.map((_, i) => apps[(this.next + i) % apps.length].port);
    this.next = (this.next + 1) % Math.max(1, apps.length);
    const route = this.sticky ? routeFromCookie(req.headers.cookie) : undefined;
    const routed = apps.find((a) => a.route === route);
    return routed ? [routed.port, ...ordered.filter((p) => p !== routed.port)] : ordered;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const targets = req.url?.startsWith('/_demo/') ? [this.controlPort] : this.candidates(req);
    for (const port of targets) {
      try {
        await this.forward(req, body, port, res);
        return;
      } catch (err) {
        // Only connection failures are retried: the request never reached that node.
        if ((err as { code?: string }).code !== 'ECONNREFUSED' && (err as { code?: string }).code !== 'ECONNRESET') break;
      }
    }
    if (!res.headersSent) {
      res.statusCode = 502;
      res.end('no app node is reachable');
    }
  }

  private forward(req: http.IncomingMessage, body: Buffer, port: number, res: http.ServerResponse): Promise<void> {
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress } },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, { ...reply.headers, 'x-load-balancer': 'builtin' });
          reply.pipe(res);
          reply.on('end', resolve);
          reply.on('error', resolve);
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }
}
