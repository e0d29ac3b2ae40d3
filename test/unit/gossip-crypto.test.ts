import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { looksSealed, open, seal, SEAL_OVERHEAD } from '../../src/gossip/crypto.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('gossip crypto', () => {
  it.each([16, 24, 32])('round-trips with a %i-byte key', (len) => {
    const key = randomBytes(len);
    const msg = enc.encode(`hello over AES-${len * 8}`);
    const sealed = seal(key, msg);
    expect(sealed.length).toBe(msg.length + SEAL_OVERHEAD);
    expect(SEAL_OVERHEAD).toBe(29);
    expect(looksSealed(sealed)).toBe(true);
    // The ciphertext does not carry the plaintext in the clear.
    expect(Buffer.from(sealed).includes(Buffer.from(msg))).toBe(false);
    expect(dec.decode(open([key], sealed) ?? new Uint8Array())).toBe(`hello over AES-${len * 8}`);
  });

  it('round-trips an empty message and a large one', () => {
    const key = randomBytes(32);
    expect(open([key], seal(key, new Uint8Array()))?.length).toBe(0);
    const big = randomBytes(100_000);
    expect(Buffer.compare(Buffer.from(open([key], seal(key, big)) ?? []), big)).toBe(0);
  });

  it('uses a fresh nonce every time', () => {
    const key = randomBytes(16);
    const msg = enc.encode('same');
    expect(Buffer.compare(Buffer.from(seal(key, msg)), Buffer.from(seal(key, msg)))).not.toBe(0);
  });

  it('returns null under the wrong key', () => {
    const sealed = seal(randomBytes(32), enc.encode('secret'));
    expect(open([randomBytes(32)], sealed)).toBeNull();
    expect(open([randomBytes(16), randomBytes(24)], sealed)).toBeNull();
    expect(open([], sealed)).toBeNull();
  });

  it('returns null when any byte is tampered with', () => {
    const key = randomBytes(32);
    const sealed = seal(key, enc.encode('do not touch'));
    for (let i = 0; i < sealed.length; i++) {
      const bad = Uint8Array.from(sealed);
      bad[i] = (bad[i] as number) ^ 0x01;
      expect(open([key], bad), `byte ${i}`).toBeNull();
    }
  });

  it('returns null on truncated or garbage input', () => {
    const key = randomBytes(32);
    const sealed = seal(key, enc.encode('truncate me'));
    for (const n of [0, 1, 12, 13, 28, sealed.length - 1]) {
      expect(open([key], sealed.subarray(0, n)), `length ${n}`).toBeNull();
    }
    for (let i = 0; i < 200; i++) {
      expect(open([key], randomBytes(i))).toBeNull();
    }
  });

  it('skips keys of an invalid length instead of throwing', () => {
    const key = randomBytes(16);
    const sealed = seal(key, enc.encode('x'));
    expect(dec.decode(open([randomBytes(7), key], sealed) ?? new Uint8Array())).toBe('x');
    expect(() => seal(randomBytes(7), enc.encode('x'))).toThrow(/16, 24 or 32/);
  });

  it('opens a message sealed with a secondary key of the ring (rotation)', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(16);
    const sealedOld = seal(oldKey, enc.encode('from a node not yet rotated'));
    const sealedNew = seal(newKey, enc.encode('from a rotated node'));
    // The ring after `use`: new key primary, old key still installed.
    const ring = [newKey, oldKey];
    expect(dec.decode(open(ring, sealedOld) ?? new Uint8Array())).toBe('from a node not yet rotated');
    expect(dec.decode(open(ring, sealedNew) ?? new Uint8Array())).toBe('from a rotated node');
    // After `remove` of the old key its messages no longer open.
    expect(open([newKey], sealedOld)).toBeNull();
  });
});
