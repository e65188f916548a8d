/**
 * The memcached client wrapper against a real memcached, including connections cut mid-stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemcachedNode } from '../../src/storage/memcached/memcached-node.js';
import { startMemcached, type MemcachedInstance } from '../helpers/memcached.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { expectVersionFromBeforeRestartRefused } from '../helpers/restart-fencing.js';
import { expectAnswerAfterStall } from '../helpers/stalled-process.js';

let memcached: MemcachedInstance;
let proxy: TcpProxy;
beforeAll(async () => {
  memcached = await startMemcached();
  proxy = new TcpProxy(memcached.host, memcached.port);
  await proxy.start();
});
afterAll(async () => {
  await proxy.stop();
  await memcached.stop();
});

describe('MemcachedNode', () => {
  it('an answer that arrived while this process was busy past the deadline is not a missed deadline', async () => {
    const client = new MemcachedNode({ id: 'n1', host: memcached.host, port: memcached.port }, { operationTimeout: 100 });
    try {
      await expectAnswerAfterStall(client);
    } finally {
      client.close();
    }
  });

  it('getMany answers each key in order, null where absent', async () => {
    const client = new MemcachedNode({ id: 'n1', host: memcached.host, port: memcached.port }, { operationTimeout: 1000 });
    try {
      await client.set('many-a', 'A', 60);
      await client.set('many-c', 'C', 60);
      const values = await client.getMany(['many-c', 'many-b', 'many-a']);
      expect(values.map((v) => v?.toString() ?? null)).toEqual(['C', null, 'A']);
      expect(await client.getMany([])).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('get-and-touch (GAT) reads a value and extends its expiration in one operation', async () => {
    const client = new MemcachedNode({ id: 'n1', host: memcached.host, port: memcached.port }, { operationTimeout: 1000 });
    try {
      expect(await client.getAndTouch('gat-missing', 100)).toBeNull();
      await client.set('gat-long', 'long', 1);
      expect((await client.getAndTouch('gat-long', 100))?.value.toString()).toBe('long');
      await client.set('gat-month', 'month', 100);
      // Above 30 days memcached reads an expiration as a Unix time: sent as a plain count of
      // seconds, this lifetime would be a time in 1970 and expire the item at once.
      expect((await client.getAndTouch('gat-month', 60 * 60 * 24 * 31))?.value.toString()).toBe('month');
      expect((await client.get('gat-month'))?.toString()).toBe('month');
      // Written to live 1 s, extended to 100 s by the GAT: still there after memcached's clock passed 1 s.
      await new Promise((r) => setTimeout(r, 2100));
      expect((await client.get('gat-long'))?.toString()).toBe('long');
    } finally {
      client.close();
    }
  });

  it('never hands a get another key\'s value when connections are cut mid-stream', async () => {
    const client = new MemcachedNode({ id: 'n1', host: '127.0.0.1', port: proxy.port }, { operationTimeout: 200 });
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    // Large values, so responses span several TCP reads and a cut leaves partial bytes behind.
    const valueOf = (key: string) => `${key}:`.padEnd(20_000, key);
    for (const key of keys) await client.set(key, valueOf(key), 0);
    const wrong: string[] = [];
    for (let round = 0; round < 30; round++) {
      const gets = keys.map((key) =>
        client.get(key).then(
          (value) => {
            if (value === null) wrong.push(`${key}: missing`);
            else if (value.toString() !== valueOf(key)) wrong.push(`${key}: got ${value.toString().slice(0, 8)}`);
          },
          () => undefined, // an error is an honest answer
        ),
      );
      await new Promise((r) => setTimeout(r, round % 3));
      proxy.block();
      proxy.unblock();
      await Promise.all(gets);
    }
    expect(wrong).toEqual([]);
    // After the storm, every key reads back correctly (the first call may still meet a dying connection).
    for (const key of keys) {
      let value: Buffer | null = null;
      for (let attempt = 0; attempt < 3 && value === null; attempt++) value = await client.get(key).catch(() => null);
      expect(value?.toString()).toBe(valueOf(key));
    }
    client.close();
  }, 30_000);

  it('expiration over 30 days is sent as an absolute time, so the item is really stored', async () => {
    const client = new MemcachedNode({ id: 'n1', host: memcached.host, port: memcached.port }, { operationTimeout: 500 });
    const { memcachedExpiration } = await import('../../src/storage/memcached/expiration.js');
    await client.set('long', 'kept', memcachedExpiration(40 * 24 * 3600));
    expect((await client.get('long'))?.toString()).toBe('kept');
    client.close();
  });

  it('rejects with a deadline error when the node hangs', async () => {
    const client = new MemcachedNode({ id: 'n1', host: memcached.host, port: memcached.port }, { operationTimeout: 150 });
    await client.set('x', '1', 0);
    await memcached.signal('SIGSTOP');
    try {
      const started = Date.now();
      await expect(client.get('x')).rejects.toThrow(/did not complete within 150 ms|timed out/);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await memcached.signal('SIGCONT');
    }
    client.close();
  });

  it('keeps working after a call missed its deadline on a held connection (docker-proxy while a container starts)', async () => {
    const held = new TcpProxy(memcached.host, memcached.port);
    await held.start();
    const client = new MemcachedNode({ id: 'n1', host: '127.0.0.1', port: held.port }, { operationTimeout: 150 });
    try {
      await client.set('held', 'v', 0);
      held.hold();
      await new Promise((r) => setTimeout(r, 50)); // the client sees its connection cut
      // The call goes over a new connection that is accepted and held: it misses its deadline, and
      // the connection is dropped. The node answers again, and a busy app's next call comes in the
      // same loop turn, before the dropped socket's close event.
      let next: Promise<Buffer | null> | undefined;
      await expect(
        client.get('held').catch((err: unknown) => {
          held.unblock();
          next = client.get('held');
          throw err;
        }),
      ).rejects.toThrow('did not complete within 150 ms');
      const answers = [await next!.catch((err: Error) => err.message)];
      for (let i = 0; i < 5; i++) answers.push(await client.get('held').catch((err: Error) => err.message));
      expect(answers.map(String)).toEqual(Array(6).fill('v'));
    } finally {
      client.close();
      await held.stop();
    }
  });

  it('never sends a CAS from before a restart: the restarted memcached counts CAS values from 1 again', async () => {
    const node = await startMemcached();
    const address = { id: 'n1', host: node.host, port: node.port };
    const client = new MemcachedNode(address, { operationTimeout: 1000 });
    const other = new MemcachedNode(address, { operationTimeout: 1000 });
    try {
      await client.set('k', 'old', 0);
      const before = (await client.gets('k'))!;
      await node.signal('SIGKILL');
      await node.restart();
      await other.set('k', 'new', 0);
      const after = (await other.gets('k'))!;
      // The precondition that makes the old CAS dangerous: memcached gave the new item the same number.
      expect(BigInt.asUintN(64, after.cas)).toBe(BigInt.asUintN(64, before.cas));
      await expectVersionFromBeforeRestartRefused(client, other, 'k', before);
    } finally {
      client.close();
      other.close();
      await node.stop();
    }
  });
});
