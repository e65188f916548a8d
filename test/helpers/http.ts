import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status: number;
  body: string;
  setCookie: string[];
  headers: Headers;
}

/** Starts an HTTP server on a free loopback port. */
export async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `url` until something answers there (any status), for at most 5 s. */
export async function waitForListener(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fetch(url).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers at ${url}`);
}

/** A browser-like client: keeps the session cookie it is given. */
export class Client {
  cookie: string | undefined;
  constructor(private base: string, private readonly cookieName = 'connect.sid') {}

  /** Sends later requests to another server, keeping the cookie (a load balancer's move). */
  moveTo(base: string): void {
    this.base = base;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    const response = await fetch(this.base + path, {
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
    });
    const setCookie = response.headers.getSetCookie();
    for (const line of setCookie) {
      const pair = line.split(';')[0];
      if (pair.startsWith(`${this.cookieName}=`)) this.cookie = pair;
    }
    return { status: response.status, body: await response.text(), setCookie, headers: response.headers };
  }

  async json<T = Record<string, unknown>>(path: string): Promise<T> {
    const reply = await this.get(path);
    if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${reply.body}`);
    return JSON.parse(reply.body) as T;
  }
}
