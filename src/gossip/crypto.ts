// Gossip encryption, laid out like memberlist's version-1 messages: one version byte, a 12-byte
// random nonce, the AES-GCM ciphertext, and the 16-byte tag. The key length picks AES-128/192/256.
// Opening tries every key of the ring, primary first, so a message sealed under a key that is
// being rotated out still opens while the cluster converges on the new one.

import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';

/** memberlist's encryption version 1: AES-GCM without padding. */
export const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a sealed message carries on top of its plaintext. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

/** Key lengths AES accepts: 16, 24 or 32 bytes. */
export function isValidKeyLength(n: number): boolean {
  return n === 16 || n === 24 || n === 32;
}

function algorithm(key: Uint8Array): CipherGCMTypes | null {
  switch (key.length) {
    case 16:
      return 'aes-128-gcm';
    case 24:
      return 'aes-192-gcm';
    case 32:
      return 'aes-256-gcm';
    default:
      return null;
  }
}

/**
 * Seals `plaintext` under `key`. The version byte is authenticated too (as additional data), so a
 * flipped version cannot pass as another format. Throws only on a key of the wrong length, which
 * the keyring never holds.
 */
export function seal(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const alg = algorithm(key);
  if (!alg) throw new RangeError('key size must be 16, 24 or 32 bytes');
  const out = Buffer.allocUnsafe(SEAL_OVERHEAD + plaintext.length);
  out[0] = SEAL_VERSION;
  const nonce = randomBytes(NONCE_BYTES);
  nonce.copy(out, 1);
  const cipher = createCipheriv(alg, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(out.subarray(0, 1));
  let at = 1 + NONCE_BYTES;
  at += cipher.update(plaintext).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

/** Whether `data` is shaped like a sealed message (it may still fail to open). */
export function looksSealed(data: Uint8Array): boolean {
  return data.length >= SEAL_OVERHEAD && data[0] === SEAL_VERSION;
}

/**
 * Opens a sealed message with the first key of `keys` that authenticates it; null when none does
 * or the message is malformed. Never throws: whatever arrives from the network is untrusted.
 */
export function open(keys: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | null {
  if (!looksSealed(sealed)) return null;
  const aad = sealed.subarray(0, 1);
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  for (const key of keys) {
    const alg = algorithm(key);
    if (!alg) continue;
    try {
      const decipher = createDecipheriv(alg, key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      const head = decipher.update(body);
      const tail = decipher.final();
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch {
      // Wrong key or tampered bytes: try the next key.
    }
  }
  return null;
}
