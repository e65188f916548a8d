import net from 'node:net';
import { textCommand, type MemcachedInstance } from './memcached.js';
import type { StorageServer } from './server-process.js';

/** Writes `value` under `key` on every node, straight over the text protocol (hostile or replayed data). */
export async function setEverywhere(instances: MemcachedInstance[], key: string, value: string | Buffer, exptime = 0): Promise<void> {
  const bytes = Buffer.from(value);
  const command = Buffer.concat([Buffer.from(`set ${key} 0 ${exptime} ${bytes.length}\r\n`), bytes, Buffer.from('\r\n')]);
  for (const m of instances) await textCommand(m.host, m.port, command, 'STORED\r\n');
}

/** The value of `key` on one node as bytes (undefined: absent). */
export async function getItem(m: MemcachedInstance, key: string): Promise<Buffer | undefined> {
  const found = /^VALUE \S+ \d+ \d+\r\n([\s\S]*)\r\nEND\r\n$/.exec(await textCommand(m.host, m.port, `get ${key}\r\n`));
  return found ? Buffer.from(found[1], 'latin1') : undefined;
}

/**
 * Snapshots the item `key` on every node; the returned function writes it back where it was,
 * never expiring (as a late write, or a copy kept longer than it should be, would leave it).
 */
export async function snapshotItem(instances: MemcachedInstance[], key: string): Promise<() => Promise<void>> {
  const answers = await Promise.all(instances.map((m) => textCommand(m.host, m.port, `get ${key}\r\n`)));
  return async () => {
    for (const [i, m] of instances.entries()) {
      const found = /^VALUE \S+ (\d+) (\d+)\r\n([\s\S]*)\r\nEND\r\n$/.exec(answers[i]);
      if (found) {
        const command = Buffer.concat([Buffer.from(`set ${key} ${found[1]} 0 ${found[2]}\r\n`), Buffer.from(found[3], 'latin1'), Buffer.from('\r\n')]);
        await textCommand(m.host, m.port, command, 'STORED\r\n');
      }
    }
  };
}

/** The value of `key` on one Redis node (its hash's `v` field) as bytes (undefined: absent). */
export function getRedisItem(server: StorageServer, key: string): Promise<Buffer | undefined> {
  const args = ['HGET', key, 'v'];
  const command = `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, server.host);
    let data = Buffer.alloc(0);
    const done = (error: Error | undefined, value?: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`redis ${server.address} did not answer HGET`)), 2000);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const header = /^\$(-?\d+)\r\n/.exec(data.toString('latin1', 0, 24));
      if (!header) return data.length > 24 ? done(new Error(`redis ${server.address}: ${data.toString('latin1', 0, 80)}`)) : undefined;
      const length = Number(header[1]);
      if (length < 0) return done(undefined, undefined);
      const start = header[0].length;
      if (data.length >= start + length + 2) done(undefined, data.subarray(start, start + length));
    });
    socket.on('error', (err) => done(err));
    socket.write(command);
  });
}
