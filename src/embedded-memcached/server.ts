import net from 'node:net';
import { ItemStore, type ItemStoreLimits } from './item-store.js';

/** Binary protocol opcodes this server answers. */
const OP = { get: 0x00, set: 0x01, add: 0x02, replace: 0x03, delete: 0x04, quit: 0x07, flush: 0x08, noop: 0x0a, version: 0x0b, stat: 0x10, touch: 0x1c, gat: 0x1d } as const;
const STATUS = { ok: 0x0000, notFound: 0x0001, exists: 0x0002, tooLarge: 0x0003, invalid: 0x0004, notStored: 0x0005, unknown: 0x0081 } as const;
const HEADER = 24;
const VERSION = '1.6.0-embedded';

export interface EmbeddedMemcachedOptions extends Partial<ItemStoreLimits> {
  port?: number;
  host?: string;
}

/**
 * An in-process memcached-compatible server: the binary-protocol subset this package uses (get,
 * set, add, replace, delete, touch, get-and-touch, stat, version, noop, flush, quit) and a small text subset
 * (get, set, delete, stats, flush_all, version, quit, and `lru_crawler metadump all`'s key list), with memcached's expiration and item-size
 * rules. For demos and tests on machines without memcached; not a production cache.
 */
export class EmbeddedMemcached {
  readonly store: ItemStore;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly startedAt = Date.now();
  port = 0;

  constructor(private readonly options: EmbeddedMemcachedOptions = {}) {
    this.store = new ItemStore({ maxBytes: options.maxBytes ?? 64 * 1024 * 1024, itemSizeLimit: options.itemSizeLimit ?? 1024 * 1024 });
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve);
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        const used = buffer[0] === 0x80 ? this.binary(socket, buffer) : this.text(socket, buffer);
        if (used === 0) break;
        buffer = buffer.subarray(used);
        if (buffer.length === 0 || socket.destroyed) break;
      }
    });
  }

  private statsList(): Array<[string, string]> {
    const s = this.store.stats;
    // Whole seconds on both, so `time - uptime` (the start time restarts are told by) never jitters.
    const now = Math.floor(Date.now() / 1000);
    return [
      ['pid', String(process.pid)],
      ['uptime', String(now - Math.floor(this.startedAt / 1000))],
      ['time', String(now)],
      ['version', VERSION],
      ['curr_items', String(this.store.size)],
      ['bytes', String(this.store.usedBytes)],
      ['curr_connections', String(this.sockets.size)],
      ...Object.entries(s).map(([k, v]) => [k, String(v)] as [string, string]),
    ];
  }

  /** Handles one binary request at the start of `buf`; returns the bytes used (0: incomplete). */
  private binary(socket: net.Socket, buf: Buffer): number {
    if (buf.length < HEADER) return 0;
    const opcode = buf[1];
    const keyLength = buf.readUInt16BE(2);
    const extrasLength = buf[4];
    const bodyLength = buf.readUInt32BE(8);
    const opaque = buf.readUInt32BE(12);
    const cas = buf.readBigUInt64BE(16);
    if (buf.length < HEADER + bodyLength) return 0;
    const extras = buf.subarray(HEADER, HEADER + extrasLength);
    const key = buf.subarray(HEADER + extrasLength, HEADER + extrasLength + keyLength).toString('latin1');
    const value = Buffer.from(buf.subarray(HEADER + extrasLength + keyLength, HEADER + bodyLength));
    const reply = (status: number, body: { extras?: Buffer; key?: string; value?: Buffer | string; cas?: bigint } = {}) => {
      const ext = body.extras ?? Buffer.alloc(0);
      const k = Buffer.from(body.key ?? '', 'latin1');
      const v = typeof body.value === 'string' ? Buffer.from(body.value) : (body.value ?? Buffer.alloc(0));
      const header = Buffer.alloc(HEADER);
      header[0] = 0x81;
      header[1] = opcode;
      header.writeUInt16BE(k.length, 2);
      header[4] = ext.length;
      header.writeUInt16BE(status, 6);
      header.writeUInt32BE(ext.length + k.length + v.length, 8);
      header.writeUInt32BE(opaque, 12);
      header.writeBigUInt64BE(body.cas ?? 0n, 16);
      socket.write(Buffer.concat([header, ext, k, v]));
    };
    const error = (status: number, message: string) => reply(status, { value: message });
    switch (opcode) {
      case OP.get:
      case OP.gat: {
        if (opcode === OP.gat && extras.length < 4) return (error(STATUS.invalid, 'Invalid arguments'), HEADER + bodyLength);
        const item = opcode === OP.gat ? this.store.getAndTouch(key, extras.readUInt32BE(0)) : this.store.get(key);
        if (!item) error(STATUS.notFound, 'Not found');
        else {
          const flags = Buffer.alloc(4);
          flags.writeUInt32BE(item.flags);
          reply(STATUS.ok, { extras: flags, value: item.value, cas: item.cas });
        }
        break;
      }
      case OP.set:
      case OP.add:
      case OP.replace: {
        if (extras.length < 8) return (error(STATUS.invalid, 'Invalid arguments'), HEADER + bodyLength);
        const mode = opcode === OP.set ? 'set' : opcode === OP.add ? 'add' : 'replace';
        const result = this.store.store(mode, key, value, extras.readUInt32BE(0), extras.readUInt32BE(4), cas);
        if (result === 'stored') reply(STATUS.ok, { cas: this.store.casOf(key) });
        else if (result === 'exists') error(STATUS.exists, 'Data exists for key.');
        else if (result === 'not-found') error(STATUS.notFound, 'Not found');
        else error(STATUS.tooLarge, 'Too large.');
        break;
      }
      case OP.delete: {
        const deleted = this.store.delete(key, cas);
        if (deleted === 'exists') error(STATUS.exists, 'Data exists for key.');
        else if (deleted) reply(STATUS.ok);
        else error(STATUS.notFound, 'Not found');
        break;
      }
      case OP.touch:
        if (extras.length < 4) return (error(STATUS.invalid, 'Invalid arguments'), HEADER + bodyLength);
        if (this.store.touch(key, extras.readUInt32BE(0))) reply(STATUS.ok);
        else error(STATUS.notFound, 'Not found');
        break;
      case OP.stat:
        for (const [name, stat] of this.statsList()) reply(STATUS.ok, { key: name, value: stat });
        reply(STATUS.ok);
        break;
      case OP.version:
        reply(STATUS.ok, { value: VERSION });
        break;
      case OP.noop:
        reply(STATUS.ok);
        break;
      case OP.flush:
        this.store.flush();
        reply(STATUS.ok);
        break;
      case OP.quit:
        reply(STATUS.ok);
        socket.end();
        break;
      default:
        error(STATUS.unknown, 'Unknown command');
    }
    return HEADER + bodyLength;
  }

  /** Handles one text command at the start of `buf`; returns the bytes used (0: incomplete). */
  private text(socket: net.Socket, buf: Buffer): number {
    const end = buf.indexOf('\r\n');
    if (end === -1) return buf.length > 2048 ? (socket.destroy(), buf.length) : 0;
    const [command, ...args] = buf.subarray(0, end).toString('latin1').trim().split(/\s+/);
    let used = end + 2;
    const write = (text: string) => socket.write(text);
    switch (command) {
      case 'get':
      case 'gets': {
        // Bytes, not text: values may be binary (sealed).
        const out: Buffer[] = [];
        for (const key of args) {
          const item = this.store.get(key);
          if (item) out.push(Buffer.from(`VALUE ${key} ${item.flags} ${item.value.length}\r\n`), item.value, Buffer.from('\r\n'));
        }
        out.push(Buffer.from('END\r\n'));
        socket.write(Buffer.concat(out));
        break;
      }
      case 'set':
      case 'add': {
        const [key, flags, exptime, bytes] = args;
        const length = Number(bytes);
        if (buf.length < used + length + 2) return 0;
        const value = Buffer.from(buf.subarray(used, used + length));
        used += length + 2;
        const result = this.store.store(command, key, value, Number(flags), Number(exptime));
        write(result === 'stored' ? 'STORED\r\n' : result === 'too-large' ? 'SERVER_ERROR object too large for cache\r\n' : 'NOT_STORED\r\n');
        break;
      }
      case 'delete':
        write(this.store.delete(args[0]) ? 'DELETED\r\n' : 'NOT_FOUND\r\n');
        break;
      case 'touch':
        write(this.store.touch(args[0], Number(args[1])) ? 'TOUCHED\r\n' : 'NOT_FOUND\r\n');
        break;
      case 'stats':
        write(this.statsList().map(([k, v]) => `STAT ${k} ${v}\r\n`).join('') + 'END\r\n');
        break;
      case 'lru_crawler':
        if (args[0] !== 'metadump') write('ERROR\r\n');
        else write([...this.store.keys()].map((key) => `key=${encodeURIComponent(key)}\r\n`).join('') + 'END\r\n');
        break;
      case 'flush_all':
        this.store.flush();
        write('OK\r\n');
        break;
      case 'version':
        write(`VERSION ${VERSION}\r\n`);
        break;
      case 'quit':
        socket.end();
        break;
      default:
        write('ERROR\r\n');
    }
    return used;
  }
}
