import type { Socket } from 'node:net';

/** The parts of memjs's per-server connection object that batching touches. */
export interface BatchableServer {
  _socket?: Socket;
  connected: boolean;
  write(blob: Buffer): void;
}

/**
 * Makes the requests one memjs server connection is given in one event-loop turn leave in one
 * socket write: the socket is corked at the turn's first request and uncorked once the turn's
 * I/O callbacks have run (setImmediate). Each socket write is a system call, and on loopback it
 * also runs the receiver's TCP path, the largest single cost of a memcached operation; requests
 * of concurrent HTTP requests now share it, and memcached answers them in one read as well.
 */
export function batchWrites(server: BatchableServer): void {
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
