/**
 * A request's bad data is the request's fault, never a memcached node's: hostile session ids
 * and oversized sessions against real memcached, in both modes.
 */
import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { freshClusterPerTest } from '../helpers/app-process.js';
import { Client } from '../helpers/http.js';
import { textCommand } from '../helpers/memcached.js';
import { setEverywhere } from '../helpers/raw-items.js';

const scope = freshClusterPerTest(3);
const SECRET = 'test secret'; // the fixture's

/** A cookie for `id` signed with the app's secret (as a custom genid, or a leaked secret, could produce). */
function signedCookie(id: string): string {
  const mac = createHmac('sha256', SECRET).update(id).digest('base64').replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${id}.${mac}`)}`;
}

/** How many times the app marked a memcached node down. */
const markedDown = async (url: string) => {
  const stats = (await (await fetch(url + '/stats')).json()) as { counters: { nodesMarkedDown?: number } };
  return stats.counters.nodesMarkedDown ?? 0;
};

/** The statuses other than 200 that `count` new users, each setting then reading a session at once, got. */
async function failedUsers(url: string, count: number): Promise<number[]> {
  const users = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const client = new Client(url);
      await client.get(`/set?user=${i}`);
      return (await client.get('/read')).status;
    }),
  );
  return users.filter((status) => status !== 200);
}

describe.each([
  ['non-sticky', { sticky: false, lockingMode: 'all' }],
  ['sticky', {}],
])('%s mode', (_mode, modeOptions) => {
  it('long session ids (246-250 characters) mark no node down; 100 other users are served', async () => {
    const app = await scope.start('a', { ...modeOptions, operationTimeout: 2000 });
    for (let length = 246; length <= 250; length++) {
      for (let i = 0; i < 4; i++) {
        const id = String(i).repeat(length);
        const reply = await fetch(app.url + '/set?x=1', { headers: { cookie: signedCookie(id) } });
        // Treated as an unknown session: a fresh one, answered normally.
        expect(reply.status).toBe(200);
        const body = (await reply.json()) as { id: string; data: { x: string } };
        expect(body.id).not.toBe(id);
        expect(body.data.x).toBe('1');
      }
    }
    expect(await markedDown(app.url)).toBe(0);
    expect(await failedUsers(app.url, 100)).toEqual([]);
  });

  it('a request setting cookie.maxAge to 100 years marks no node down; its session and other users\' are served', async () => {
    const options = { ...modeOptions, sessionBackupAsync: false };
    const a = await scope.start('a', options);
    const remembered = Array.from({ length: 12 }, () => new Client(a.url));
    for (const client of remembered) expect((await client.get('/remember?days=36500')).status).toBe(200);
    expect(await markedDown(a.url)).toBe(0);
    expect(await failedUsers(a.url, 50)).toEqual([]);
    // The stored copy is readable by another app node (sticky: a takeover; non-sticky: a load).
    const b = await scope.start('b', options);
    remembered[0].moveTo(b.url);
    const reply = await remembered[0].get('/read');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body).data.remembered).toBe(true);
    expect(await markedDown(b.url)).toBe(0);
  });

  it('stored copies whose header holds a 10-digit ttl mark no node down', async () => {
    const a = await scope.start('a', { ...modeOptions, sessionBackupAsync: false });
    const clients = Array.from({ length: 40 }, () => new Client(a.url));
    const ids: string[] = [];
    for (const client of clients) ids.push(JSON.parse((await client.get('/set?x=1')).body).id);
    for (const id of ids) {
      for (const m of scope.cluster.instances) {
        const found = /^VALUE \S+ \d+ \d+\r\n([\s\S]*)\r\nEND\r\n$/.exec(await textCommand(m.host, m.port, `get ${id}\r\n`));
        if (found) await setEverywhere([m], id, found[1].replace(/^(\d+)\.\d+(\.\d+)?/, '$1.9999999999'));
      }
    }
    // Another node loads each copy, all at once (sticky: takes it over, writing a tombstone with
    // the copy's lifetime; non-sticky: the next read extends the copies by it).
    const b = await scope.start('b', { ...modeOptions, sessionBackupAsync: false });
    for (const client of clients) client.moveTo(b.url);
    for (let round = 0; round < 2; round++) {
      const replies = await Promise.all(clients.map((client) => client.get('/read')));
      for (const reply of replies) {
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body).data).toEqual({ x: '1' });
      }
    }
    expect(await markedDown(b.url)).toBe(0);
  });

  it('a 2 MB session on its first request answers 413 and sets no cookie', async () => {
    const app = await scope.start('a', modeOptions);
    const reply = await fetch(app.url + '/big?kb=2048');
    expect(reply.status).toBe(413);
    expect(((await reply.json()) as { code: string }).code).toBe('ESESSIONTOOLARGE');
    expect(reply.headers.getSetCookie()).toEqual([]);
  });

  it('itemSizeLimit above memcached -I: values refused as too large mark no node down', async () => {
    // memcached's default item limit is 1 MB; the option claims 4 MB.
    const app = await scope.start('a', { ...modeOptions, itemSizeLimit: 4 * 1024 * 1024, sessionBackupAsync: false });
    // More refusals in a row than the breaker's threshold, on every node (sticky mode keeps the
    // session in memory and answers 200; non-sticky answers 413, tested below).
    for (let i = 0; i < 12; i++) expect([200, 413]).toContain((await fetch(app.url + '/big?kb=1536')).status);
    expect(await markedDown(app.url)).toBe(0);
    const client = new Client(app.url);
    expect((await client.get('/set?user=small')).status).toBe(200);
    expect(JSON.parse((await client.get('/read')).body).data.user).toBe('small');
  });
});

describe('non-sticky: a session memcached refuses as too large', () => {
  it('answers 413 (not 503) and sets no cookie for the new id', async () => {
    const app = await scope.start('a', { sticky: false, itemSizeLimit: 4 * 1024 * 1024 });
    const reply = await fetch(app.url + '/big?kb=1536');
    expect(reply.status).toBe(413);
    expect(reply.headers.getSetCookie()).toEqual([]);
  });
});
