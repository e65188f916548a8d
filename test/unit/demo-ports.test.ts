import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { onFreePort } from '../../src/demo/supervisor.js';

/** Binds `port` the way a demo node does; fails with EADDRINUSE when something else holds it. */
function bind(port: number): Promise<net.Server> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('demo nodes on free ports', () => {
  it('a node whose port was taken before it bound gets a fresh port and starts', async () => {
    const node = { port: 0 };
    const thief: net.Server[] = [];
    const started: net.Server[] = [];
    const tried: number[] = [];
    await onFreePort(node, async () => {
      tried.push(node.port);
      // The first port is taken by another program between the probe and the bind.
      if (tried.length === 1) thief.push(await bind(node.port));
      started.push(await bind(node.port));
    });
    expect(tried).toHaveLength(2);
    expect(tried[1]).not.toBe(tried[0]);
    expect(node.port).toBe(tried[1]);
    expect(started).toHaveLength(1);
    for (const server of [...thief, ...started]) server.close();
  });

  it('reports the last failure after three tries', async () => {
    const node = { port: 0 };
    let calls = 0;
    await expect(
      onFreePort(node, async () => {
        calls++;
        throw new Error(`start ${calls} failed`);
      }),
    ).rejects.toThrow('start 3 failed');
    expect(calls).toBe(3);
  });
});
