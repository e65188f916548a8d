import { textCommand, type MemcachedInstance } from './memcached.js';

/** Writes `value` under `key` on every node, straight over the text protocol (hostile or replayed data). */
export async function setEverywhere(instances: MemcachedInstance[], key: string, value: string, exptime = 0): Promise<void> {
  for (const m of instances) {
    await textCommand(m.host, m.port, `set ${key} 0 ${exptime} ${Buffer.byteLength(value)}\r\n${value}\r\n`, 'STORED\r\n');
  }
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
      if (found) await textCommand(m.host, m.port, `set ${key} ${found[1]} 0 ${found[2]}\r\n${found[3]}\r\n`, 'STORED\r\n');
    }
  };
}
