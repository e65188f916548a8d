/** The part of memjs's per-server connection object that collects response bytes. */
export interface ReceivingServer {
  responseBuffer: Buffer;
  appendToBuffer(data: Buffer): Buffer;
}

/**
 * Lets a memjs connection parse a chunk of socket data in place when no partial response is
 * waiting for more bytes, which is nearly always. memjs copies every chunk into a freshly
 * allocated, zero-filled buffer first. For a 20 KB session read that is 20 KB more memory outside
 * the JavaScript heap per copy read, which V8 counts towards starting a full collection (see
 * docs/performance.md: after an idle spell such collections ran back to back). Values
 * still arrive as slices of the chunk (one buffer per socket read that nothing else writes into).
 */
export function parseChunksInPlace(server: ReceivingServer): void {
  const append = server.appendToBuffer.bind(server);
  server.appendToBuffer = (data: Buffer) => (server.responseBuffer.length === 0 ? (server.responseBuffer = data) : append(data));
}
