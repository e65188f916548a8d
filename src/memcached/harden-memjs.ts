import type { Socket } from 'node:net';

/** The parts of memjs's (untyped) per-server connection object that the hardening touches. */
interface MemjsServer {
  _socket?: Socket;
  responseBuffer: Buffer;
  error(err: unknown): void;
  sock(sasl: boolean, go: (socket: Socket) => void): void;
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
 * Returns the number of the live connection (1, 2, ... per new socket; undefined while there is
 * none): a server that restarted can only be reached over a new connection.
 */
export function hardenMemjsServer(server: MemjsServer): { connection(): number | undefined } {
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
    if (!socket || socket === current) return;
    current?.destroy(); // an old socket must never feed the shared buffer again
    current = socket;
    live = ++connections;
    socket.once('close', () => {
      if (current === socket) server.error(new Error('connection to memcached closed'));
    });
  };
  return { connection: () => live };
}
