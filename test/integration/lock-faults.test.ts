/**
 * Non-sticky locks across a hung memcached node (SIGSTOP, then SIGCONT): a lock call that missed
 * its deadline and is applied when the node resumes must not block the session afterwards.
 */
import { describe, expect, it } from 'vitest';
import { freshClusterPerTest } from '../helpers/app-process.js';
import { Client } from '../helpers/http.js';

const scope = freshClusterPerTest(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('orphaned locks', () => {
  it('a lock add that timed out and is applied on SIGCONT does not block the session for lockExpiration', async () => {
    const node = scope.cluster.instances[0];
    const app = await scope.start('a', { sticky: false, lockingMode: 'all', operationTimeout: 300, lockExpiration: 20 });
    const client = new Client(app.url);
    expect((await client.get('/inc')).status).toBe(200);

    await node.signal('SIGSTOP');
    try {
      // The lock add is sent, misses its deadline: 503. It waits in the stopped node's socket.
      expect((await client.get('/inc')).status).toBe(503);
    } finally {
      await node.signal('SIGCONT');
    }
    // Within a few seconds (far below lockExpiration, 20 s) the session is usable again.
    let status = 0;
    const until = Date.now() + 4000;
    while (Date.now() < until && status !== 200) {
      status = (await client.get('/inc')).status;
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(2);
  });
});
