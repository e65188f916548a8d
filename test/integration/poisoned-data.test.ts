/**
 * Hostile session data sealed with the app's secret and written straight into memcached, in both modes: the user gets a fresh session
 * (never a 500, /login included), the data is logged once as `corrupt_session` and deleted.
 */
import { describe, expect, it } from 'vitest';
import { Client } from '../helpers/http.js';
import { loggingAppsPerTest } from '../helpers/logging-app.js';
import { setEverywhere } from '../helpers/raw-items.js';
import { sealingOf } from '../helpers/sealed.js';

const scope = loggingAppsPerTest(2);
const app = (sticky: boolean) => scope.start({ sticky });

const cookie = '"cookie":{"originalMaxAge":3600000,"expires":"2999-01-01T00:00:00.000Z","httpOnly":true,"path":"/"}';
const POISONS: Record<string, string> = {
  'originalMaxAge not a number': '{"cookie":{"originalMaxAge":"1h","httpOnly":true,"path":"/"},"user":"eve"}',
  'maxAge not a number': '{"cookie":{"originalMaxAge":3600000,"maxAge":"1h","path":"/"},"user":"eve"}',
  'expires not a date': '{"cookie":{"originalMaxAge":null,"expires":"tomorrow-ish","path":"/"},"user":"eve"}',
  'expires a number': '{"cookie":{"originalMaxAge":null,"expires":12345,"path":"/"},"user":"eve"}',
  'originalMaxAge beyond any date': '{"cookie":{"originalMaxAge":1e300,"path":"/"},"user":"eve"}',
  'cookie domain that cannot be sent': '{"cookie":{"originalMaxAge":null,"domain":"bad domain;","path":"/"},"user":"eve"}',
  'cookie an array': '{"cookie":[],"user":"eve"}',
  'unknown cookie attribute': '{"cookie":{"originalMaxAge":null,"toJSON":1},"user":"eve"}',
  'attribute nested 20,000 levels deep': `{${cookie},"user":"eve","deep":${'['.repeat(20000)}${']'.repeat(20000)}}`,
  'not JSON': '{"cookie":{"originalMax',
};

for (const sticky of [true, false]) {
  describe(`poisoned stored data (${sticky ? 'sticky' : 'non-sticky'} mode)`, () => {
    for (const [name, json] of Object.entries(POISONS)) {
      it(`${name}: a fresh session, /login works, logged once`, async () => {
        const writer = await app(sticky);
        const client = new Client(writer.url);
        await client.get('/set?user=ada');
        const sid = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).replace(/\.[^.]*$/, '');
        // Sealed with the app's own secret (as a buggy writer holding it would): the data itself is refused.
        const key = sealingOf('it').sessionKey(sid);
        await setEverywhere(scope.cluster.instances, key, sealingOf('it').seal(key, `7.3600:${json}`));
        // Sticky mode serves its own sessions from memory: a second process loads from memcached.
        const reader = sticky ? await app(true) : writer;
        const poisoned = client.cookie!;
        client.moveTo(reader.url);
        const read = await client.get('/read');
        expect(read.status).toBe(200);
        expect(JSON.parse(read.body).user).toBeUndefined();
        const login = await client.get('/login');
        expect(login.status).toBe(200);
        expect(JSON.parse(login.body).user).toBe('ada');
        // The same poisoned cookie again: the bad data is gone, so nothing more to report.
        const again = new Client(reader.url);
        again.cookie = poisoned;
        expect((await again.get('/read')).status).toBe(200);
        await new Promise((r) => setTimeout(r, 50));
        expect(reader.middleware.statistics().counters.corruptSessions).toBe(1);
        expect(reader.events('corrupt_session')).toHaveLength(1);
      });
    }
  });
}
