/**
 * memcached with SASL (`memcached -S`, a sasldb made with saslpasswd2): the right credentials
 * work in both modes; rejected or missing ones fail loudly from startup (an error-level log line,
 * and 503 for every request) instead of answering 200 while every memcached call fails behind it.
 * Uses the memcached binary whatever MSM_TEST_MEMCACHED says (the container image has no sasldb
 * tooling); skipped, with the reason, only when the binary or saslpasswd2 is missing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionOptions } from '../../src/index.js';
import { Client } from '../helpers/http.js';
import { loggingApp } from '../helpers/logging-app.js';
import { saslUnavailable, startSaslMemcached, type SaslMemcached } from '../helpers/sasl-memcached.js';

const missing = saslUnavailable();
if (missing) console.warn(`SASL tests skipped: ${missing}`);

let nodes: SaslMemcached[] = [];
const open: Array<() => Promise<void>> = [];
beforeEach(async () => {
  if (missing) return;
  nodes = [await startSaslMemcached('app', 'right horse'), await startSaslMemcached('app', 'right horse')];
});
afterEach(async () => {
  while (open.length) await open.pop()!();
  for (const node of nodes) await node.stop();
});

async function app(options: Partial<SessionOptions>) {
  const started = await loggingApp({ memcachedNodes: nodes.map((n, i) => `n${i + 1}:${n.address}`).join(','), operationTimeout: 500, ...options });
  open.push(started.close);
  return started;
}

const until = async (done: () => boolean, ms = 3000) => {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
};

for (const sticky of [true, false]) {
  const mode = sticky ? 'sticky' : 'non-sticky';
  describe.skipIf(missing)(`memcached SASL (${mode})`, () => {
    it('the right credentials: sessions are stored in memcached and read back by another process', async () => {
      const credentials = { username: 'app', password: 'right horse' };
      const a = await app({ sticky, ...credentials, ...(sticky ? { route: 'a' } : {}) });
      const client = new Client(a.url);
      expect((await client.get('/set?user=ada')).status).toBe(200);
      const b = await app({ sticky, ...credentials, ...(sticky ? { route: 'b' } : {}) });
      client.moveTo(b.url);
      const read = await client.get('/');
      expect(read.status).toBe(200);
      expect(JSON.parse(read.body).user).toBe('ada');
      expect(a.events('memcached_auth_failed')).toHaveLength(0);
    });

    for (const [name, credentials] of [
      ['a wrong password', { username: 'app', password: 'wrong' }],
      ['no credentials', {}],
    ] as const) {
      it(`${name}: an error-level log line at startup, and 503 for every request`, async () => {
        const a = await app({ sticky, ...credentials });
        // The first health check, sent at startup, is refused.
        await until(() => a.events('memcached_auth_failed').length > 0);
        const refusals = a.events('memcached_auth_failed');
        expect(refusals.length).toBeGreaterThan(0);
        expect(refusals.every((e) => e.level === 'error')).toBe(true);
        const client = new Client(a.url);
        const reply = await client.get('/set?user=ada');
        expect(reply.status).toBe(503);
        expect(reply.body).toMatch(credentials.username ? /rejected the SASL credentials of user "app"/ : /requires SASL authentication/);
        expect((await client.get('/')).status).toBe(503);
      });
    }
  });
}
