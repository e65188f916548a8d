/**
 * Copy deltas (peers): a delta carries only the top-level attributes a change set or removed, and
 * applied to the very copy it was computed from gives the same session as the whole new copy.
 * Applied to any other copy (another version or write), or malformed, it is refused; so is a
 * delta whose stored base is forged. The peer store applies them through its protocol.
 */
import { describe, expect, it } from 'vitest';
import { applyDelta, copyDelta, DELTA_MIN_BODY, membersOf, type DeltaBase } from '../../src/format/copy-delta.js';
import { SessionCopy, type VersionedCopy } from '../../src/format/versioned-copy.js';
import { storedJson } from '../../src/format/session-codec.js';
import { sealedCopies } from '../../src/format/copy-codec.js';
import { PeerStore } from '../../src/storage/peers/peer-store.js';
import { OP, Request, STATUS, type PeerRequest } from '../../src/storage/peers/peer-protocol.js';
import { LocalTransport, PeerNode } from '../../src/storage/peers/peer-node.js';
import { sealingOf } from '../helpers/sealed.js';

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values that stress the splitter: quotes, backslashes, braces and brackets inside strings, nesting, unicode. */
const TRICKY = ['a"b', 'ends with a backslash \\', '\\"', '{[}]', '"}', 'é ☃ \u2028', '', ',', ':', 12.5, -0.001, true, false, null, [1, '"', { x: ['}'] }], { 'k"': { '}': '{', n: [[], {}] } }];

function randomValue(random: () => number, depth = 0): unknown {
  const pick = random();
  if (pick < 0.4 || depth > 2) return TRICKY[Math.floor(random() * TRICKY.length)];
  if (pick < 0.6) return 'x'.repeat(Math.floor(random() * 600));
  if (pick < 0.8) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i}${TRICKY[i]}`, randomValue(random, depth + 1)]));
}

const BASE: DeltaBase = { version: 7, writeId: 'w7' };
const cookie = (n: number) => ({ originalMaxAge: n, expires: new Date(1_800_000_000_000 + n).toISOString(), httpOnly: true, path: '/' });
const copyOf = (version: number, writeId: string, body: string, cookieValue: unknown) => new SessionCopy(version, 1800, storedJson({ body, cookie: cookieValue }), 1_800_000_000_000, writeId);

describe('membersOf', () => {
  it('splits an object as JSON.stringify writes it into its members, whatever the values hold', () => {
    const random = prng(1);
    for (let i = 0; i < 300; i++) {
      const object = Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 6) }, (_, j) => [`${TRICKY[j % 9]}${j}`, randomValue(random)]));
      const json = JSON.stringify(object);
      const members = membersOf(json)!;
      expect([...members.keys()]).toEqual(Object.keys(object).map((name) => JSON.stringify(name)));
      expect(`{${[...members.values()].join(',')}}`).toBe(json);
    }
    expect(membersOf('{}')!.size).toBe(0);
  });

  it('refuses what is not such an object', () => {
    for (const text of ['', '[]', '"{}"', '{"a":1', '{"a":1,}', '{"a" :1}', '{a:1}', '{"a":"unterminated}', '{"a":{"b":1}', '{"a":1}x', 'null']) {
      expect(membersOf(text), text).toBeUndefined();
    }
  });
});

describe('copyDelta and applyDelta', () => {
  it('give the same session as the whole new copy: attributes changed, added and removed, and the cookie', () => {
    const random = prng(2);
    for (let i = 0; i < 200; i++) {
      const before: Record<string, unknown> = { big: 'y'.repeat(DELTA_MIN_BODY * 2) };
      for (let j = 0; j < 8; j++) before[`a${j}${TRICKY[j]}`] = randomValue(random);
      const after: Record<string, unknown> = { ...before };
      for (const name of Object.keys(before)) {
        const roll = random();
        if (name === 'big') continue;
        if (roll < 0.2) delete after[name];
        else if (roll < 0.4) after[name] = randomValue(random);
      }
      if (random() < 0.5) after[`new${i}"`] = randomValue(random);
      const stored = copyOf(BASE.version, BASE.writeId, JSON.stringify(before), cookie(1));
      const next = copyOf(8, 'w8', JSON.stringify(after), cookie(2));
      const delta = copyDelta(BASE, JSON.stringify(before), next, JSON.stringify(after), cookie(2))!;
      expect(delta.length).toBeLessThan(JSON.stringify(after).length / 2);
      const applied = applyDelta(stored, delta)!;
      expect(JSON.parse(applied.json)).toEqual(JSON.parse(next.json));
      expect({ version: applied.version, ttl: applied.ttl, expiresAt: applied.expiresAt, writeId: applied.writeId }).toEqual({ version: 8, ttl: 1800, expiresAt: 1_800_000_000_000, writeId: 'w8' });
      // The cookie stays first, so a load's shortcut past re-serializing still applies.
      expect(applied.json.startsWith(`{"cookie":${JSON.stringify(cookie(2))}`)).toBe(true);
    }
  });

  it('carries only what changed', () => {
    const body = JSON.stringify({ big: 'z'.repeat(20_000), count: 1 });
    const changed = JSON.stringify({ big: 'z'.repeat(20_000), count: 2 });
    const delta = copyDelta(BASE, body, copyOf(8, 'w8', changed, cookie(1)), changed, cookie(1))!;
    expect(delta).toContain('"count":2');
    expect(delta).not.toContain('zzz');
    expect(delta.length).toBeLessThan(300);
  });

  it('applies with many attributes removed (a header line of any length)', () => {
    const before: Record<string, unknown> = { big: 'k'.repeat(20_000) };
    for (let i = 0; i < 80; i++) before[`a rather long attribute name number ${i}`] = i;
    const after = { big: before.big, kept: true };
    const delta = copyDelta(BASE, JSON.stringify(before), copyOf(8, 'w8', JSON.stringify(after), cookie(1)), JSON.stringify(after), cookie(1))!;
    expect(delta.indexOf('\n')).toBeGreaterThan(2000);
    const applied = applyDelta(copyOf(7, 'w7', JSON.stringify(before), cookie(1)), delta)!;
    expect(JSON.parse(applied.json)).toEqual({ cookie: cookie(1), ...after });
  });

  it('is not made for small bodies, nor when it would not be under half the body', () => {
    const small = JSON.stringify({ count: 1 });
    expect(copyDelta(BASE, small, copyOf(8, 'w8', small, cookie(1)), small, cookie(1))).toBeUndefined();
    const before = JSON.stringify({ big: 'a'.repeat(4000) });
    const after = JSON.stringify({ big: 'b'.repeat(4000) });
    expect(copyDelta(BASE, before, copyOf(8, 'w8', after, cookie(1)), after, cookie(1))).toBeUndefined();
  });

  it('is refused by any copy but its base, and when malformed', () => {
    const body = JSON.stringify({ big: 'q'.repeat(4000), count: 1 });
    const changed = JSON.stringify({ big: 'q'.repeat(4000), count: 2 });
    const delta = copyDelta(BASE, body, copyOf(8, 'w8', changed, cookie(1)), changed, cookie(1))!;
    expect(applyDelta(copyOf(7, 'w7', body, cookie(1)), delta)).toBeDefined();
    expect(applyDelta(copyOf(7, 'other', body, cookie(1)), delta)).toBeUndefined();
    expect(applyDelta(copyOf(6, 'w7', body, cookie(1)), delta)).toBeUndefined();
    expect(applyDelta(new SessionCopy(7, 1800, storedJson({ body, cookie: cookie(1) })), delta)).toBeUndefined();
    const [line, rest] = delta.split('\n');
    for (const bad of [`${line}\n${rest.replace(':', '')}`, `${line.replace('[]', '[1')}\n${rest}`, `${line.replace('[]', '{}')}\n${rest}`, `${line}\n${rest.slice(0, -1)}`, rest]) {
      expect(applyDelta(copyOf(7, 'w7', body, cookie(1)), bad)).toBeUndefined();
    }
  });
});

describe('the peer store applies deltas', () => {
  const sealing = sealingOf('test secret');
  const codec = sealedCopies(sealing);
  const key = sealing.sessionKey('some-session-id');
  const body = JSON.stringify({ big: 'p'.repeat(8000), count: 1 });
  const changed = JSON.stringify({ big: 'p'.repeat(8000), count: 2 });
  const base = copyOf(7, 'w7', body, cookie(1));
  const next = copyOf(8, 'w8', changed, cookie(2));
  const delta = Buffer.from(copyDelta(BASE, body, next, changed, cookie(2))!);
  const request = (store: PeerStore, op: number, value: Buffer | string = Buffer.alloc(0)) => store.answer(new Request(op as typeof OP.get, key, 60, 0n, Buffer.from(value)));

  it('to the sealed copy it holds, which then opens as the whole new copy', () => {
    const store = new PeerStore({ itemSizeLimit: 1 << 20, maxBytes: 1 << 24 }, Date.now, codec);
    expect(request(store, OP.set, Buffer.from(codec.encode(key, base))).status).toBe(STATUS.ok);
    expect(request(store, OP.patch, delta).status).toBe(STATUS.ok);
    const opened = codec.decode(key, request(store, OP.get).value)!;
    expect(JSON.parse(opened.json)).toEqual(JSON.parse(next.json));
    expect(opened.writeId).toBe('w8');
    // Applied once: the same delta again finds another base.
    expect(request(store, OP.patch, delta).status).toBe(STATUS.refused);
  });

  it('one after another to the copy held open, which is sealed only when read: each read opens as the latest copy', () => {
    let seals = 0;
    const counting = { encode: (k: string, copy: VersionedCopy) => (seals++, codec.encode(k, copy)), decode: codec.decode };
    const store = new PeerStore({ itemSizeLimit: 1 << 20, maxBytes: 1 << 24 }, Date.now, counting);
    expect(request(store, OP.set, Buffer.from(codec.encode(key, base))).status).toBe(STATUS.ok);
    let previous = base;
    let previousBody = body;
    for (let count = 2; count <= 5; count++) {
      const nextBody = JSON.stringify({ big: 'p'.repeat(8000), count });
      const copy = copyOf(6 + count, `w${6 + count}`, nextBody, cookie(count));
      const step = copyDelta({ version: previous.version, writeId: previous.writeId! }, previousBody, copy, nextBody, cookie(count))!;
      expect(request(store, OP.patch, step).status).toBe(STATUS.ok);
      previous = copy;
      previousBody = nextBody;
    }
    expect(seals).toBe(0);
    const read = request(store, OP.get);
    expect(seals).toBe(1);
    expect(JSON.parse(codec.decode(key, read.value)!.json)).toEqual(JSON.parse(previous.json));
    // Read again: the same bytes, not sealed again.
    expect(request(store, OP.get).value.equals(read.value)).toBe(true);
    expect(seals).toBe(1);
  });

  it('refuses a delta whose result outgrows the item size limit', () => {
    const store = new PeerStore({ itemSizeLimit: 8400, maxBytes: 1 << 24 }, Date.now, codec);
    expect(request(store, OP.set, Buffer.from(codec.encode(key, base))).status).toBe(STATUS.ok);
    const bigger = JSON.stringify({ big: 'p'.repeat(8000), count: 1, more: 'm'.repeat(1000) });
    const grown = copyDelta(BASE, body, copyOf(8, 'w8', bigger, cookie(2)), bigger, cookie(2))!;
    expect(request(store, OP.patch, grown).status).toBe(STATUS.tooLarge);
    expect(JSON.parse(codec.decode(key, request(store, OP.get).value)!.json)).toEqual(JSON.parse(base.json));
  });

  it('and refuses them with no copy, a forged copy, or no way to open copies', () => {
    const store = new PeerStore({ itemSizeLimit: 1 << 20, maxBytes: 1 << 24 }, Date.now, codec);
    expect(request(store, OP.patch, delta).status).toBe(STATUS.refused);
    // The base's text, but not sealed under this key: a forged or moved copy.
    expect(request(store, OP.set, Buffer.from(codec.encode(sealing.sessionKey('another-id'), base))).status).toBe(STATUS.ok);
    expect(request(store, OP.patch, delta).status).toBe(STATUS.refused);
    const plain = new PeerStore({ itemSizeLimit: 1 << 20, maxBytes: 1 << 24 });
    expect(request(plain, OP.set, Buffer.from(codec.encode(key, base))).status).toBe(STATUS.ok);
    expect(request(plain, OP.patch, delta).status).toBe(STATUS.refused);
  });

  it('a peer node sends one only to a store whose instance answer says it applies them (an older one would drop the connection)', async () => {
    const nodeOn = (store: PeerStore) => {
      const ops: number[] = [];
      const transport = new LocalTransport(store, () => undefined);
      const send = transport.request.bind(transport);
      transport.request = (req: PeerRequest) => (ops.push(req.op), send(req));
      return { node: new PeerNode('b', transport, 1 << 20), ops };
    };
    const limits = { itemSizeLimit: 1 << 20, maxBytes: 1 << 24 };
    const current = nodeOn(new PeerStore(limits, Date.now, codec));
    await current.node.set(key, codec.encode(key, base), 60);
    expect(await current.node.patchCopy(key, delta.toString(), 60)).toBe(false); // not known yet: no health check answered
    expect(await current.node.instance()).toMatch(/^[0-9a-f]{32} patch$/);
    expect(await current.node.patchCopy(key, delta.toString(), 60)).toBe(true);
    expect(current.ops.filter((op) => op === OP.patch)).toHaveLength(1);

    const older = nodeOn(new PeerStore(limits));
    expect(await older.node.instance()).toMatch(/^[0-9a-f]{32}$/);
    expect(await older.node.patchCopy(key, delta.toString(), 60)).toBe(false);
    expect(older.ops).not.toContain(OP.patch);
  });
});
