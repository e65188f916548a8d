/**
 * Records memcached binary-protocol traffic through a TcpProxy, per key: which request went to
 * which node, and what the node answered. A failing chaos run prints the history of a session
 * that broke its guarantee, so the cause is visible without rerunning it.
 */

const OPCODES: Record<number, string> = {
  0x00: 'get', 0x01: 'set', 0x02: 'add', 0x03: 'replace', 0x04: 'delete', 0x0a: 'noop', 0x10: 'stat',
  0x1c: 'touch', 0x1d: 'gat',
};

export interface TraceEvent {
  at: number;
  node: string;
  conn: number;
  op: string;
  key: string;
  /** Version of a stored value sent (set/add) or answered (get/gat). */
  version?: string;
  cas?: string;
  /** Status of the answer (0: ok), undefined while none came. */
  status?: number;
  answeredAt?: number;
}

/** Splits one direction of a connection into binary-protocol frames. */
class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (frame: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 24) {
      const length = 24 + this.pending.readUInt32BE(8);
      if (this.pending.length < length) return;
      this.onFrame(this.pending.subarray(0, length));
      this.pending = this.pending.subarray(length);
    }
  }
}

function versionOf(value: Buffer): string | undefined {
  const head = value.subarray(0, 24).toString('latin1');
  const match = /^(\d+)\./.exec(head);
  return match?.[1];
}

export class ProtocolTrace {
  readonly events: TraceEvent[] = [];
  private connections = 0;

  /** @param describe the version a stored value holds (pass one that opens sealed values). */
  constructor(private readonly describe: (key: string, value: Buffer) => string | undefined = (_key, value) => versionOf(value)) {}
  private readonly start = performance.now();

  /** ms since the trace began: the clock of every event. */
  now(): number {
    return Math.round(performance.now() - this.start);
  }

  /** Hooks for one proxied connection to `node`: feed client→server and server→client bytes. */
  connection(node: string): { request(chunk: Buffer): void; response(chunk: Buffer): void } {
    const conn = ++this.connections;
    const inFlight = new Map<number, TraceEvent>();
    const requests = new FrameReader((frame) => {
      if (frame[0] !== 0x80) return;
      const keyLength = frame.readUInt16BE(2);
      const extrasLength = frame[4];
      const key = frame.subarray(24 + extrasLength, 24 + extrasLength + keyLength).toString('latin1');
      const value = frame.subarray(24 + extrasLength + keyLength);
      const cas = frame.readBigUInt64BE(16);
      const event: TraceEvent = {
        at: this.now(),
        node,
        conn,
        op: OPCODES[frame[1]] ?? `0x${frame[1].toString(16)}`,
        key,
        version: value.length ? this.describe(key, value) : undefined,
        cas: cas ? String(cas) : undefined,
      };
      inFlight.set(frame.readUInt32BE(12), event);
      if (key) this.events.push(event);
    });
    const responses = new FrameReader((frame) => {
      if (frame[0] !== 0x81) return;
      const event = inFlight.get(frame.readUInt32BE(12));
      if (!event) return;
      inFlight.delete(frame.readUInt32BE(12));
      event.status = frame.readUInt16BE(6);
      event.answeredAt = this.now();
      const keyLength = frame.readUInt16BE(2);
      const value = frame.subarray(24 + frame[4] + keyLength);
      if (value.length && event.status === 0) event.version = this.describe(event.key, value);
      const cas = frame.readBigUInt64BE(16);
      if (cas) event.cas = String(cas);
    });
    return { request: (chunk) => requests.push(chunk), response: (chunk) => responses.push(chunk) };
  }

  /** One line per operation on keys containing `fragment`, in order. */
  history(fragment: string): string[] {
    return this.events
      .filter((e) => e.key.includes(fragment))
      .map(
        (e) =>
          `${String(e.at).padStart(5)}ms ${e.node} c${e.conn} ${e.op.padEnd(6)} ${e.key.slice(0, 18)}${e.key.length > 18 ? '…' : ''}` +
          `${e.version !== undefined ? ` v${e.version}` : ''}${e.cas ? ` cas=${e.cas}` : ''} → ` +
          (e.status === undefined ? 'no answer' : `status ${e.status} at ${e.answeredAt}ms`),
      );
  }
}
