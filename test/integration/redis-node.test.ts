/**
 * RedisNode against real redis-server processes: versions and conditional writes, lifetimes,
 * restarts (an old version is never accepted), deadlines on a hung server, refused connections,
 * refused credentials, and error replies that are the request's fault.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisNode } from '../../src/storage/redis/redis-node.js';
import { faultOf, NodeAnswerError, NodeAuthError, NodeConnectionError } from '../../src/storage/call-fault.js';
import { DeadlineError } from '../../src/base/deadline.js';
import { readFileSync } from 'node:fs';
import { textCommand } from '../helpers/memcached.js';
import { makeTlsFiles, redisProviderName, startRedis } from '../helpers/redis.js';
import { REQUIRED_ACL } from '../../src/storage/redis/redis-errors.js';
import { missingPackage } from '../helpers/system-programs.js';
import type { StorageServer } from '../helpers/server-process.js';
import { expectVersionFromBeforeRestartRefused } from '../helpers/restart-fencing.js';
import { expectAnswerAfterStall } from '../helpers/stalled-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nodeOn = (server: StorageServer, options: Partial<ConstructorParameters<typeof RedisNode>[1]> = {}) =>
  new RedisNode({ id: 'r1', host: server.host, port: server.port }, { operationTimeout: 1000, ...options });
/** A raw command to the server (inline protocol), bypassing RedisNode. */
const raw = (server: StorageServer, command: string) => textCommand(server.host, server.port, `${command}\r\n`, '\r\n');

/** The error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

let redis: StorageServer;
let node: RedisNode;
const noRedis = missingPackage('redis-server');
beforeAll(async () => {
  if (noRedis) return;
  console.log(`redis provider: ${await redisProviderName()}`);
  redis = await startRedis();
  node = nodeOn(redis);
});
afterAll(async () => {
  if (noRedis) return;
  node.close();
  await redis.stop();
});

describe.skipIf(noRedis)('RedisNode: versions and conditional writes', () => {
  it('a version allows one conditional write; any write in between refuses it', async () => {
    await node.set('k', 'one', 0);
    const read = (await node.gets('k'))!;
    expect(read.value.toString()).toBe('one');
    const written = await node.storeIf('k', 'two', 0, read.cas);
    expect(written).not.toBeNull();
    expect(written).not.toBe(read.cas);
    // The version it replaced is spent.
    expect(await node.storeIf('k', 'lost', 0, read.cas)).toBeNull();
    // An unconditional set gives a new version too: the version written before is refused.
    await node.set('k', 'three', 0);
    expect(await node.storeIf('k', 'lost', 0, written!)).toBeNull();
    expect(await node.deleteIf('k', written!)).toBe(false);
    expect((await node.get('k'))?.toString()).toBe('three');
    const current = (await node.gets('k'))!;
    expect(await node.deleteIf('k', current.cas)).toBe(true);
    expect(await node.get('k')).toBeNull();
    expect(await node.gets('k')).toBeNull();
  });

  it('storeIf without a version adds: refused when the key exists', async () => {
    const added = await node.storeIf('new', 'first', 0, undefined);
    expect(added).not.toBeNull();
    expect(await node.storeIf('new', 'second', 0, undefined)).toBeNull();
    expect(await node.add('new', 'third', 0)).toBe(false);
    expect((await node.gets('new'))?.cas).toBe(added);
    expect(await node.delete('new')).toBe(true);
    expect(await node.delete('new')).toBe(false);
    expect(await node.add('new', 'again', 0)).toBe(true);
  });

  it('a key deleted and written again never has a version handed out before (no ABA)', async () => {
    await node.set('aba', 'a', 0);
    const before = (await node.gets('aba'))!;
    const versions = new Set<bigint>([before.cas]);
    for (let i = 0; i < 50; i++) {
      await node.delete('aba');
      const added = await node.storeIf('aba', `b${i}`, 0, undefined);
      expect(versions.has(added!)).toBe(false);
      versions.add(added!);
    }
    expect(await node.storeIf('aba', 'stale', 0, before.cas)).toBeNull();
  });

  it('getMany: the values of several keys in their order, null where absent', async () => {
    await node.set('many1', 'one', 0);
    await node.set('many3', 'three', 0);
    expect((await node.getMany(['many1', 'many2', 'many3'])).map((v) => v?.toString() ?? null)).toEqual(['one', null, 'three']);
    expect(await node.getMany([])).toEqual([]);
  });

  it('binary values come back byte for byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await node.set('bin', bytes, 0);
    expect((await node.get('bin'))?.equals(bytes)).toBe(true);
    expect((await node.getAndTouch('bin', 60))?.value.equals(bytes)).toBe(true);
  });

  it('concurrent conditional writes with one version: exactly one wins', async () => {
    await node.set('race', '0', 0);
    const { cas } = (await node.gets('race'))!;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => node.storeIf('race', `w${i}`, 0, cas)));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });
});

describe.skipIf(noRedis)('RedisNode: lifetimes', () => {
  it('a lifetime in seconds expires the item; 0 never expires; touch and getAndTouch reset it', async () => {
    await node.set('short', 's', 1);
    await node.set('forever', 'f', 0);
    await node.set('touched', 't', 1);
    await node.set('gat', 'g', 1);
    expect(await node.touch('touched', 100)).toBe(true);
    expect((await node.getAndTouch('gat', 100))?.value.toString()).toBe('g');
    expect(await raw(redis, 'PTTL forever')).toBe(':-1\r\n');
    await sleep(1200);
    expect(await node.get('short')).toBeNull();
    expect((await node.get('forever'))?.toString()).toBe('f');
    expect((await node.get('touched'))?.toString()).toBe('t');
    expect((await node.get('gat'))?.toString()).toBe('g');
    // Touch to 0: never expires (the earlier lifetime is removed); a missing item is not created.
    expect(await node.touch('touched', 0)).toBe(true);
    expect(await raw(redis, 'PTTL touched')).toBe(':-1\r\n');
    expect(await node.touch('missing', 10)).toBe(false);
    expect(await node.getAndTouch('missing', 10)).toBeNull();
    expect(await raw(redis, 'EXISTS missing')).toBe(':0\r\n');
    // A conditional write sets the lifetime it is given, replacing the item's.
    const { cas } = (await node.gets('forever'))!;
    await node.storeIf('forever', 'f2', 30, cas);
    const pttl = Number((await raw(redis, 'PTTL forever')).slice(1));
    expect(pttl).toBeGreaterThan(29_000);
    expect(pttl).toBeLessThanOrEqual(30_000);
  });

  it('a lifetime over 10 years is capped, infinite never expires', async () => {
    await node.set('century', 'c', 100 * 365 * 86400);
    expect(Number((await raw(redis, 'PTTL century')).slice(1))).toBeLessThanOrEqual(10 * 365 * 86400 * 1000);
    await node.set('infinite', 'i', Number.POSITIVE_INFINITY);
    expect(await raw(redis, 'PTTL infinite')).toBe(':-1\r\n');
  });
});

describe.skipIf(noRedis)('RedisNode: restarts, hung and dead servers', () => {
  it('never accepts a version from before a restart, even one the new server hands out again', async () => {
    const server = await startRedis();
    const client = nodeOn(server);
    const other = nodeOn(server);
    try {
      await client.set('k', 'old', 0);
      const before = (await client.gets('k'))!;
      const instanceBefore = await client.instance();
      await server.signal('SIGKILL');
      await server.restart();
      // The worst case: the new server holds the key at the very version handed out before (as a
      // server restored from a backup, or whose clock went back, could).
      expect(await raw(server, `HSET k v new n ${BigInt.asUintN(64, before.cas)}`)).toBe(':2\r\n');
      expect(await client.instance()).not.toBe(instanceBefore);
      await expectVersionFromBeforeRestartRefused(client, other, 'k', before);
    } finally {
      client.close();
      other.close();
      await server.stop();
    }
  });

  it('scripts run on a server that lost its script cache (EVALSHA falls back to EVAL)', async () => {
    await node.set('cached', 'a', 0);
    expect(await raw(redis, 'SCRIPT FLUSH')).toBe('+OK\r\n');
    const { cas } = (await node.gets('cached'))!;
    expect(await node.storeIf('cached', 'b', 0, cas)).not.toBeNull();
    expect((await node.get('cached'))?.toString()).toBe('b');
  });

  it('a hung server: every call rejects with a deadline error at its deadline, and it serves again once resumed', async () => {
    const server = await startRedis();
    const client = nodeOn(server, { operationTimeout: 150 });
    try {
      await client.set('x', '1', 0);
      await server.signal('SIGSTOP');
      const started = Date.now();
      const errors = await Promise.all([failure(client.get('x')), failure(client.set('y', '2', 0)), failure(client.instance())]);
      const elapsed = Date.now() - started;
      for (const err of errors) {
        expect(err).toBeInstanceOf(DeadlineError);
        expect(faultOf(err)).toBe('node');
      }
      expect(elapsed).toBeLessThan(1000);
      // Calls made while it hangs, on a new connection, keep their deadline too.
      const again = await failure(client.get('x'));
      expect(faultOf(again)).toBe('node');
      expect(Date.now() - started).toBeLessThan(1500);
      await server.signal('SIGCONT');
      let value: Buffer | null = null;
      for (let attempt = 0; attempt < 10 && value === null; attempt++) value = await client.get('x').catch(() => null);
      expect(value?.toString()).toBe('1');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('an answer that arrived while this process was busy past the deadline is not a missed deadline', async () => {
    const client = nodeOn(redis, { operationTimeout: 100 });
    try {
      await expectAnswerAfterStall(client);
    } finally {
      client.close();
    }
  });

  it('a stopped server: refused connection, a node fault, at once; serves again after a restart', async () => {
    const server = await startRedis();
    const client = nodeOn(server);
    try {
      await server.signal('SIGKILL');
      const started = Date.now();
      const err = await failure(client.get('x'));
      expect(err).toBeInstanceOf(NodeConnectionError);
      expect((err as NodeConnectionError).code).toBe('ECONNREFUSED');
      expect(faultOf(err)).toBe('node');
      expect(Date.now() - started).toBeLessThan(500);
      await server.restart();
      expect(await client.get('x')).toBeNull();
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('calls after close() fail as the node\'s, without connecting', async () => {
    const client = nodeOn(redis);
    await client.set('closing', '1', 0);
    client.close();
    expect(faultOf(await failure(client.get('closing')))).toBe('node');
  });
});

describe.skipIf(noRedis)('RedisNode: TLS', () => {
  it('talks TLS to a server whose certificate the given CA signed; refuses one it cannot verify, as a node fault', async () => {
    const files = makeTlsFiles();
    const server = await startRedis([], files);
    const trusting = nodeOn(server, { tls: { ca: readFileSync(files.ca) } });
    const untrusting = nodeOn(server, { tls: true });
    const plain = nodeOn(server, { operationTimeout: 300 });
    try {
      await trusting.set('k', 'over tls', 0);
      expect((await trusting.get('k'))?.toString()).toBe('over tls');
      const refused = await failure(untrusting.get('k'));
      expect(refused).toBeInstanceOf(NodeConnectionError);
      expect(refused.message).toMatch(/certificate/);
      expect(faultOf(await failure(plain.get('k')))).toBe('node');
    } finally {
      for (const n of [trusting, untrusting, plain]) n.close();
      await server.stop();
    }
  });
});

describe.skipIf(noRedis)('RedisNode: credentials and error replies', () => {
  it('refused credentials, and credentials missing, are NodeAuthErrors naming the options', async () => {
    const server = await startRedis(['--requirepass', 'right', '--user', 'app', 'on', '>apppass', '~*', '+@all']);
    const wrong = nodeOn(server, { username: 'app', password: 'wrong' });
    const none = nodeOn(server);
    const user = nodeOn(server, { username: 'app', password: 'apppass' });
    const defaultUser = nodeOn(server, { password: 'right' });
    try {
      const refused = await failure(wrong.get('k'));
      expect(refused).toBeInstanceOf(NodeAuthError);
      expect(refused.message).toMatch(/redis r1 rejected the credentials of user "app" \(WRONGPASS.*\): check the redisUsername and redisPassword options/);
      expect(faultOf(refused)).toBe('node');
      const missing = await failure(none.instance());
      expect(missing).toBeInstanceOf(NodeAuthError);
      expect(missing.message).toMatch(/redis r1 requires authentication: set the redisUsername and redisPassword options/);
      await user.set('k', 'v', 0);
      expect((await defaultUser.get('k'))?.toString()).toBe('v');
    } finally {
      for (const n of [wrong, none, user, defaultUser]) n.close();
      await server.stop();
    }
  });

  it('an ACL that forbids the scripts is a NodeAuthError naming the rules it needs; those rules are enough', async () => {
    const server = await startRedis(['--user', 'reader', 'on', '>pw', '~*', '+@read', '+info', '--user', 'app', 'on', '>pw', ...REQUIRED_ACL.split(' ')]);
    const reader = nodeOn(server, { username: 'reader', password: 'pw' });
    const app = nodeOn(server, { username: 'app', password: 'pw' });
    try {
      const err = await failure(reader.set('k', 'v', 0));
      expect(err).toBeInstanceOf(NodeAuthError);
      expect(err.message).toBe(`redis r1 refused a command to user "reader" (${err.message.match(/\((NOPERM[^)]*)\)/)![1]}): its ACL must allow ~* +@read +@write +@scripting +time +info`);
      await app.set('k', 'v', 10);
      expect(await app.add('k', 'w', 10)).toBe(false);
      const read = (await app.getAndTouch('k', 20))!;
      expect(await app.storeIf('k', 'x', 0, read.cas)).not.toBeNull();
      expect(await app.touch('k', 5)).toBe(true);
      expect(await app.deleteIf('k', (await app.gets('k'))!.cas)).toBe(true);
      expect(await app.delete('k')).toBe(false);
      expect(await app.get('k')).toBeNull();
      expect(await app.instance()).toMatch(/^run_id \w+$/);
    } finally {
      reader.close();
      app.close();
      await server.stop();
    }
  });

  // redis-server would close the connection on such a bulk (a node fault, to the client): RedisNode
  // reads the limit when it connects and refuses the value before sending it.
  it('a value over proto-max-bulk-len is the request\'s fault, marked too large, and not sent; the node keeps serving', async () => {
    const server = await startRedis(['--proto-max-bulk-len', '1mb']);
    const client = nodeOn(server);
    try {
      await client.set('small', 'ok', 0);
      const err = await failure(client.set('big', Buffer.alloc(2 * 1024 * 1024, 1), 0));
      expect(err).toBeInstanceOf(NodeAnswerError);
      expect((err as NodeAnswerError).tooLarge).toBe(true);
      expect(faultOf(err)).toBe('answered');
      expect((err as Error).message).toMatch(/proto-max-bulk-len 1048576\): not sent/);
      // The same connection still serves: nothing was sent that made the server close it.
      expect((await client.get('small'))?.toString()).toBe('ok');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('an argument the client cannot send is the request\'s fault; the node keeps serving', async () => {
    const err = await failure(node.set('typed', 42 as never, 0));
    expect(err).toBeInstanceOf(TypeError);
    expect(faultOf(err)).toBe('request');
    await node.set('typed', '42', 0);
    expect((await node.get('typed'))?.toString()).toBe('42');
  });

  it('a server loading its data (LOADING) or stuck in a script (BUSY) is the node\'s fault, not the request\'s', async () => {
    const { redisError } = await import('../../src/storage/redis/redis-errors.js');
    for (const reply of ['LOADING Redis is loading the dataset in memory', 'BUSY Redis is busy running a script.', 'READONLY You can\'t write against a read only replica.']) {
      expect(faultOf(redisError('r1', 'get', new Error(reply), true, undefined))).toBe('node');
    }
    expect(faultOf(redisError('r1', 'get', new Error('OOM command not allowed when used memory > \'maxmemory\'.'), true, undefined))).toBe('answered');
  });

  it('an error reply (a key of another type) is the request\'s fault, not the node\'s', async () => {
    expect(await raw(redis, 'SET foreign plain')).toBe('+OK\r\n');
    const err = await failure(node.get('foreign'));
    expect(err).toBeInstanceOf(NodeAnswerError);
    expect(err.message).toMatch(/redis r1 get: answered "WRONGTYPE/);
    expect((err as NodeAnswerError).tooLarge).toBe(false);
    expect(faultOf(err)).toBe('answered');
    // In a script too.
    const inScript = await failure(node.set('foreign', 'x', 0));
    expect(inScript.message).toMatch(/WRONGTYPE/);
    expect(faultOf(inScript)).toBe('answered');
  });
});
