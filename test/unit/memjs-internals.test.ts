/**
 * The private members of memjs this package relies on are checked when the first client is made:
 * the installed memjs passes, and one that lacks a member fails with a message naming its version
 * and the members missing.
 */
import { readFileSync } from 'node:fs';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { checkMemjsInternals, memjsConnection, MemjsInternalsError, memjsVersion } from '../../src/storage/memcached/memjs-internals.js';
import { MemcachedNode } from '../../src/storage/memcached/memcached-node.js';

const installed = (JSON.parse(readFileSync(new URL('../../node_modules/memjs/package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A real memjs client, open to doctoring; it connects only when used. */
function memjsClient(): { servers: Array<Record<string, unknown>>; [member: string]: unknown } {
  return memjs.Client.create('127.0.0.1:1', { logger: { log: () => undefined } as unknown as Console }) as never;
}

describe('memjs internals check', () => {
  // First in this file: the check runs when the first client is made.
  it('runs when the first MemcachedNode is made, which then refuses to start', () => {
    const prototype = memjs.Server.prototype as unknown as Record<string, unknown>;
    const appendToBuffer = prototype.appendToBuffer;
    delete prototype.appendToBuffer;
    try {
      expect(() => new MemcachedNode({ id: 'n1', host: '127.0.0.1', port: 1 }, { operationTimeout: 100 })).toThrow(
        `memjs ${installed} lacks server.appendToBuffer (function), which memcached-session-manager relies on`,
      );
    } finally {
      prototype.appendToBuffer = appendToBuffer;
    }
  });

  it('reads the version of the memjs it loaded', () => {
    expect(memjsVersion()).toBe(installed);
  });

  it('passes on the installed memjs', () => {
    expect(() => checkMemjsInternals(memjsClient())).not.toThrow();
  });

  it('names the memjs version and every member missing or of the wrong kind', () => {
    const client = memjsClient();
    client.incrSeq = undefined; // a method gone
    delete client.servers[0].responseBuffer; // a property renamed
    client.servers[0].write = Buffer.alloc(0); // a method turned into a property
    let thrown: unknown;
    try {
      checkMemjsInternals(client);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MemjsInternalsError);
    expect((thrown as Error).message).toBe(
      `memjs ${installed} lacks client.incrSeq (function), server.responseBuffer (property), server.write (function), which memcached-session-manager relies on: install the memjs version its package.json names`,
    );
  });

  it('checks the socket, which exists only while connected, on each new connection', () => {
    const client = memjsClient();
    client.servers[0].sock = () => undefined; // a memjs that keeps its socket elsewhere
    const line = memjsConnection(client as unknown as memjs.Client);
    const failed: unknown[] = [];
    expect(() => line.send(() => Buffer.alloc(24), () => undefined, (err) => failed.push(err))).toThrow(
      `memjs ${installed} lacks server._socket (a net.Socket once connecting), which memcached-session-manager relies on`,
    );
    expect(failed).toEqual([]);
  });
});

describe('memjs request numbers', () => {
  let server: EmbeddedMemcached;
  beforeAll(async () => {
    server = new EmbeddedMemcached();
    await server.listen();
  });
  afterAll(() => server.close());

  it('requests keep their answers after memjs\'s counter passes 2^31 (it wraps to negative numbers, answers carry them unsigned)', async () => {
    const client = new MemcachedNode({ id: 'e1', host: '127.0.0.1', port: server.port }, { operationTimeout: 1000 });
    try {
      await client.set('k', 'v', 0);
      (client as unknown as { client: { seq: number } }).client.seq = 2 ** 31 - 2;
      for (let i = 0; i < 3; i++) expect((await client.get('k'))?.toString()).toBe('v');
    } finally {
      client.close();
    }
  });
});
