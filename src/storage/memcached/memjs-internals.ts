/**
 * Every use of memjs's private members, in one place. memjs (pinned to an exact version in
 * package.json) has no CAS, no get-and-touch, no batching, and connections that misread responses
 * after a cut; this module reaches into its client and per-server connection objects to fix that.
 * The members used are exactly those of MemjsClient and MemjsServer, and checkMemjsInternals
 * verifies them on the first client created, so a memjs that changed them fails at startup.
 */
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import memjs from 'memjs';

/** A response as memjs parses it. */
export interface MemjsResponse {
  header: { status: number; cas: Buffer };
  val: Buffer;
}

/** The private members of a memjs client used here. */
interface MemjsClient {
  servers: MemjsServer[];
  /** The request counter, shared with the requests memjs sends itself (stats). */
  seq: number;
  incrSeq(): void;
}

/** The private members of a memjs per-server connection used here. */
interface MemjsServer {
  /** Set by sock() when it opens a connection; absent while there is none. */
  _socket?: Socket;
  connected: boolean;
  responseBuffer: Buffer;
  appendToBuffer(data: Buffer): Buffer;
  sock(sasl: boolean, go: (socket: Socket) => void): void;
  error(err: unknown): void;
  onResponse(seq: number, callback: (response: MemjsResponse) => void): void;
  onError(seq: number, callback: (err: unknown) => void): void;
  write(request: Buffer): void;
}

type Kind = 'function' | 'property';

const CLIENT_MEMBERS = { servers: 'property', seq: 'property', incrSeq: 'function' } as const satisfies Record<keyof MemjsClient, Kind>;

/** `_socket` exists only while connected: it is checked on every new connection instead (see hardenConnection). */
const SERVER_MEMBERS = {
  connected: 'property',
  responseBuffer: 'property',
  appendToBuffer: 'function',
  sock: 'function',
  error: 'function',
  onResponse: 'function',
  onError: 'function',
  write: 'function',
} as const satisfies Record<Exclude<keyof MemjsServer, '_socket'>, Kind>;

/** The installed memjs lacks private members this package relies on. */
export class MemjsInternalsError extends Error {
  constructor(missing: string[]) {
    super(
      `memjs ${memjsVersion()} lacks ${missing.join(', ')}, which memcached-session-manager relies on: install the memjs version its package.json names`,
    );
    this.name = 'MemjsInternalsError';
  }
}

/** The version in the package.json of the memjs this module loaded (found through the CommonJS cache, which works from both builds). */
export function memjsVersion(): string {
  try {
    const cache = createRequire(`${process.cwd()}/`).cache;
    const loaded = Object.values(cache).find((entry) => entry?.exports === memjs);
    if (loaded) return String((createRequire(loaded.filename)('memjs/package.json') as { version?: unknown }).version);
  } catch {
    // the message below is still clear without it
  }
  return '(version unknown)';
}

function lacking(object: object, members: Record<string, Kind>, owner: string): string[] {
  return Object.entries(members)
    .filter(([name, kind]) => {
      const value = (object as Record<string, unknown>)[name];
      return kind === 'function' ? typeof value !== 'function' : !(name in object) || typeof value === 'function';
    })
    .map(([name, kind]) => `${owner}.${name} (${kind})`);
}

/**
 * Throws a MemjsInternalsError naming the memjs version and the members missing, unless `client`
 * (a memjs Client) and each of its servers have every private member this module uses, each of
 * the expected kind.
 */
export function checkMemjsInternals(client: object): void {
  const missing = lacking(client, CLIENT_MEMBERS, 'client');
  const servers = (client as Partial<MemjsClient>).servers;
  if (!Array.isArray(servers) || servers.length === 0) missing.push('client.servers (property)');
  else for (const server of servers as object[]) missing.push(...lacking(server, SERVER_MEMBERS, 'server'));
  if (missing.length > 0) throw new MemjsInternalsError([...new Set(missing)]);
}

let checked = false;

/** The connection to one memcached node that MemcachedNode sends its requests over. */
export interface MemjsConnection {
  /** The number of the live connection (1, 2, ... per new socket); undefined while there is none. */
  connection(): number | undefined;
  /**
   * Sends the request `build` makes for the next request number. `onAnswer` gets its answer,
   * `onFailure` the error that drops the connection first. An exception from `build` is thrown,
   * with nothing sent or registered.
   */
  send(build: (seq: number) => Buffer, onAnswer: (response: MemjsResponse) => void, onFailure: (err: unknown) => void): void;
  /** Sockets keep the process alive only while held (a call is outstanding). */
  holdSockets(hold: boolean): void;
  /** Drops the connection, failing every call queued on it with `err`; the next call reconnects. */
  reset(err: unknown): void;
}

/**
 * Takes over the connection of a memjs client made for one node: checks memjs's internals (the
 * first time), hardens the connection against cuts, batches writes and parses responses in place.
 */
export function memjsConnection(publicClient: memjs.Client): MemjsConnection {
  if (!checked) {
    checkMemjsInternals(publicClient);
    checked = true;
  }
  const client = publicClient as unknown as MemjsClient;
  const connections = client.servers.map((server) => {
    const hardened = hardenConnection(server);
    batchWrites(server);
    parseChunksInPlace(server);
    return hardened;
  });
  const server = client.servers[0];
  return {
    connection: connections[0],
    send(build, onAnswer, onFailure) {
      client.incrSeq();
      // memjs keeps the counter in 32 signed bits; answers carry it unsigned.
      const seq = client.seq >>> 0;
      const request = build(seq);
      server.onResponse(seq, onAnswer);
      server.onError(seq, onFailure);
      try {
        server.write(request);
      } catch (err) {
        if (err instanceof MemjsInternalsError) throw err;
        onFailure(err);
      }
    },
    holdSockets(hold) {
      for (const each of client.servers) {
        if (hold) each._socket?.ref();
        else each._socket?.unref();
      }
    },
    reset(err) {
      for (const each of client.servers) each.error(err);
    },
  };
}

/**
 * Makes one memjs server connection safe to lose mid-stream. memjs keeps a single response
 * buffer per server that it never clears, only half-closes a timed-out socket (which can still
 * deliver late bytes), and does not fail pending calls when a socket closes. After a reconnect,
 * leftover bytes then shift every later response: a get could receive another request's
 * answer, even another session's data (reproduced in test/integration/node-client.test.ts).
 * Here, every failed or closed socket is destroyed, the buffer cleared, and pending calls failed,
 * so each connection starts from a clean stream.
 *
 * Returns the number of the live connection: a server that restarted can only be reached over a
 * new connection.
 */
function hardenConnection(server: MemjsServer): () => number | undefined {
  let current: Socket | undefined;
  let connections = 0;
  let live: number | undefined;
  const fail = server.error.bind(server);
  const connect = server.sock.bind(server);

  server.error = (err: unknown) => {
    const sockets = [server._socket, current];
    current = undefined;
    live = undefined;
    for (const socket of sockets) socket?.destroy();
    server.responseBuffer = Buffer.alloc(0);
    fail(err);
  };

  server.sock = (sasl, go) => {
    connect(sasl, go);
    const socket = server._socket;
    // memjs's sock() always leaves the connection's socket here: without it nothing above works.
    if (!(socket instanceof Socket)) throw new MemjsInternalsError(['server._socket (a net.Socket once connecting)']);
    if (socket === current) return;
    current?.destroy(); // an old socket must never feed the shared buffer again
    current = socket;
    live = ++connections;
    actOnlyWhileCurrent(server, socket);
    socket.once('close', () => {
      if (current === socket) server.error(new Error('connection to memcached closed'));
    });
  };
  return () => live;
}

/**
 * memjs's 'close' and 'error' listeners reset the server's connection whichever socket fired them.
 * A dropped socket's close comes a loop turn after its destroy, when a call may already have opened
 * the next socket: memjs would then forget that one, its calls would never be sent or answered, and
 * each missed deadline would start the same again (a healthy node marked down over and over).
 * Here they act only while their socket is still the server's.
 */
function actOnlyWhileCurrent(server: MemjsServer, socket: Socket): void {
  for (const event of ['close', 'error'] as const) {
    for (const listener of socket.listeners(event) as Array<(...args: unknown[]) => void>) {
      socket.removeListener(event, listener);
      socket.on(event, function (this: Socket, ...args: unknown[]) {
        if (server._socket === socket) listener.apply(this, args);
      });
    }
  }
}

/**
 * Makes the requests one memjs server connection is given in one event-loop turn leave in one
 * socket write: the socket is corked at the turn's first request and uncorked once the turn's
 * I/O callbacks have run (setImmediate). Each socket write is a system call, and on loopback it
 * also runs the receiver's TCP path, the largest single cost of a memcached operation; requests
 * of concurrent HTTP requests now share it, and memcached answers them in one read as well.
 */
function batchWrites(server: MemjsServer): void {
  const write = server.write.bind(server);
  let corked: Socket | undefined;
  server.write = (blob: Buffer) => {
    const socket = server._socket;
    // A socket still connecting queues the request in memjs; only a connected one is written now.
    if (socket && server.connected && corked !== socket) {
      corked = socket;
      socket.cork();
      setImmediate(() => {
        if (corked === socket) corked = undefined;
        socket.uncork();
      });
    }
    write(blob);
  };
}

/**
 * Lets a memjs connection parse a chunk of socket data in place when no partial response is
 * waiting for more bytes, which is nearly always. memjs copies every chunk into a freshly
 * allocated, zero-filled buffer first: memory outside the JavaScript heap that V8 counts towards
 * starting a full collection (docs/performance.md). Values still arrive as slices of the chunk
 * (one buffer per socket read that nothing else writes into).
 */
export function parseChunksInPlace(server: Pick<MemjsServer, 'responseBuffer' | 'appendToBuffer'>): void {
  const append = server.appendToBuffer.bind(server);
  server.appendToBuffer = (data: Buffer) => (server.responseBuffer.length === 0 ? (server.responseBuffer = data) : append(data));
}
