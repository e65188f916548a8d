/**
 * memjs connections parse socket chunks in place (no copy) when nothing is pending, and still
 * join a response split across chunks. Checked with the package's client against the embedded
 * server, through a relay that re-cuts the byte stream.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { MemcachedNode } from '../../src/storage/memcached/memcached-node.js';
import { parseChunksInPlace } from '../../src/storage/memcached/memjs-internals.js';

let server: EmbeddedMemcached;
let relay: net.Server;
let relayPort = 0;
/** How the relay cuts what the server answers: byte counts of the pieces it writes, in turn. */
let cuts = [1 << 20];

beforeAll(async () => {
  server = new EmbeddedMemcached({ itemSizeLimit: 1024 * 1024 });
  await server.listen();
  relay = net.createServer((client) => {
    const upstream = net.connect(server.port, '127.0.0.1');
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    let writing = Promise.resolve();
    upstream.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      writing = writing.then(async () => {
        for (let i = 0; pending.length > 0; i++) {
          const piece = pending.subarray(0, cuts[i % cuts.length]);
          pending = pending.subarray(piece.length);
          client.write(piece);
          await new Promise((r) => setTimeout(r, 2)); // separate reads on the client side
        }
      });
    });
    for (const s of [client, upstream]) s.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayPort = (relay.address() as net.AddressInfo).port;
});
afterAll(async () => {
  relay.close();
  await server.close();
});

describe('response buffering', () => {
  it('adopts a chunk when nothing is pending, and joins one onto a partial response', () => {
    const joined = Buffer.from('joined');
    const fake = { responseBuffer: Buffer.alloc(0), appendToBuffer: (data: Buffer) => Buffer.concat([fake.responseBuffer, data, joined]) };
    parseChunksInPlace(fake);
    const chunk = Buffer.from('chunk');
    expect(fake.appendToBuffer(chunk)).toBe(chunk); // the same buffer: not copied
    expect(fake.responseBuffer).toBe(chunk);
    expect(fake.appendToBuffer(Buffer.from('more')).toString()).toBe('chunkmorejoined'); // memjs's own join
  });

  it('reads values whose responses arrive split across chunks and several to a chunk', async () => {
    const client = new MemcachedNode({ id: 'r1', host: '127.0.0.1', port: relayPort }, { operationTimeout: 2000 });
    try {
      const values = ['a', 'b'.repeat(20_000), 'c'.repeat(300), 'd'.repeat(70_000)];
      for (const [i, v] of values.entries()) await client.set(`k${i}`, v, 0);
      for (const pieces of [[7, 4096], [24, 5, 1000], [30_000, 17], [1 << 20]]) {
        cuts = pieces;
        const got = await Promise.all(values.map((_, i) => client.get(`k${i}`)));
        expect(got.map((b) => b?.toString())).toEqual(values);
      }
      // Whole chunks are not copied: reading a 20 KB value allocates no 20 KB buffer in JavaScript.
      const alloc = vi.spyOn(Buffer, 'alloc');
      try {
        expect((await client.get('k1'))?.length).toBe(20_000);
        expect(alloc.mock.calls.filter(([size]) => size >= 20_000)).toEqual([]);
      } finally {
        alloc.mockRestore();
      }
    } finally {
      client.close();
    }
  });
});
