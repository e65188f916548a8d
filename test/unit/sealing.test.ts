import { describe, expect, it } from 'vitest';
import { createSecretKey } from 'node:crypto';
import { SEAL_OVERHEAD, Sealing } from '../../src/format/sealing.js';

const ID = 'abcdefghijklmnopqrstuvwxyz012345.a';

describe('key names', () => {
  it('are a keyed hash of the id after the prefix: fixed length, no trace of the id, different per secret', () => {
    const sealing = new Sealing(['s1'], 'app:');
    const key = sealing.sessionKey(ID);
    expect(key).toMatch(/^app:[A-Za-z0-9_-]{43}$/);
    expect(key).not.toContain('abcdefghij');
    expect(sealing.sessionKey(ID)).toBe(key);
    expect(new Sealing(['s2'], 'app:').sessionKey(ID)).not.toBe(key);
    expect(sealing.sessionKey(`${ID}x`)).not.toBe(key);
    // Any id gets a valid memcached key, however long or odd.
    expect(sealing.sessionKey('has space\n'.repeat(100))).toMatch(/^app:[A-Za-z0-9_-]{43}$/);
  });

  it("a session's tombstone name is unrelated to its copies' name", () => {
    const sealing = new Sealing(['s1'], '');
    const tombstone = sealing.tombstoneKey(ID);
    expect(tombstone).toMatch(/^revoked:[A-Za-z0-9_-]{43}$/);
    expect(tombstone.slice('revoked:'.length)).not.toBe(sealing.sessionKey(ID));
  });

  it("the older secrets' names are where copies from before a rotation are", () => {
    const rotated = new Sealing(['new', 'old'], 'p:');
    expect(rotated.sessionKey(ID)).toBe(new Sealing(['new'], 'p:').sessionKey(ID));
    expect(rotated.olderSessionKeys(ID)).toEqual([new Sealing(['old'], 'p:').sessionKey(ID)]);
    expect(rotated.olderTombstoneKeys(ID)).toEqual([new Sealing(['old'], 'p:').tombstoneKey(ID)]);
    expect(new Sealing(['new'], 'p:').olderSessionKeys(ID)).toEqual([]);
  });

  it('a Buffer secret (as a secret KeyObject, the way the options pass it) names keys as its bytes in a string would', () => {
    const bytes = createSecretKey(Buffer.from('s1'));
    expect(new Sealing([bytes], 'app:').sessionKey(ID)).toBe(new Sealing(['s1'], 'app:').sessionKey(ID));
    const random = createSecretKey(Buffer.from([0, 255, 1, 254]));
    expect(new Sealing([random], 'app:').sessionKey(ID)).not.toBe(new Sealing(['s1'], 'app:').sessionKey(ID));
  });

  it('a fingerprint is the start of the key name, after the prefix', () => {
    const sealing = new Sealing(['s1'], 'app:');
    const key = sealing.sessionKey(ID);
    expect(sealing.fingerprint(key)).toBe(key.slice(4, 16));
  });
});

describe('sealed values', () => {
  const sealing = new Sealing(['s1'], '');
  const key = sealing.sessionKey(ID);
  const text = '3.3600:{"cookie":{"path":"/"},"user":"ada"}';

  it('open under the key they were sealed under, and hide their content', () => {
    const sealed = sealing.seal(key, text);
    expect(sealed.length).toBe(Buffer.byteLength(text) + SEAL_OVERHEAD);
    expect(sealed.toString('latin1')).not.toContain('ada');
    expect(sealing.open(key, sealed)).toBe(text);
    // A random nonce each time: the same content never seals to the same bytes.
    expect(sealing.seal(key, text).equals(sealed)).toBe(false);
  });

  it('refuse another key, any changed byte, truncation, plain text and other secrets', () => {
    const sealed = sealing.seal(key, text);
    expect(sealing.open(sealing.sessionKey('another id'), sealed)).toBeUndefined();
    for (let i = 0; i < sealed.length; i++) {
      const changed = Buffer.from(sealed);
      changed[i] ^= 0x01;
      expect(sealing.open(key, changed)).toBeUndefined();
    }
    expect(sealing.open(key, sealed.subarray(0, sealed.length - 1))).toBeUndefined();
    expect(sealing.open(key, Buffer.from(text))).toBeUndefined();
    expect(sealing.open(key, Buffer.alloc(0))).toBeUndefined();
    expect(new Sealing(['s2'], '').open(key, sealed)).toBeUndefined();
  });

  it('sealed with an older secret still open while it is listed', () => {
    const old = new Sealing(['old'], '');
    const sealed = old.seal('k', text);
    expect(new Sealing(['new', 'old'], '').open('k', sealed)).toBe(text);
    expect(new Sealing(['new'], '').open('k', sealed)).toBeUndefined();
    // The first secret seals.
    expect(old.open('k', new Sealing(['new', 'old'], '').seal('k', text))).toBeUndefined();
  });

  it('with encryptSessions false: readable, still authenticated, and either format opens either way', () => {
    const readable = new Sealing(['s1'], '', false);
    const sealed = readable.seal(key, text);
    expect(sealed.toString('latin1')).toContain('"user":"ada"');
    expect(readable.open(key, sealed)).toBe(text);
    expect(sealing.open(key, sealed)).toBe(text);
    expect(readable.open(key, sealing.seal(key, text))).toBe(text);
    const rewritten = Buffer.from(sealed.toString('latin1').replace('"ada"', '"eve"'), 'latin1');
    expect(readable.open(key, rewritten)).toBeUndefined();
    expect(readable.open(sealing.sessionKey('other'), sealed)).toBeUndefined();
  });
});
