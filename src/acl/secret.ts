// Secrets compared without leaking where they differ: both sides are hashed to the same length and
// compared with crypto.timingSafeEqual. Token lookups by secret go through a Map (a hash lookup,
// not a character-by-character comparison); this is for every other place a secret is compared.

import { createHash, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Writes a file that holds secrets: created mode 0600 (owner only) before any byte is written,
 * through a temporary file renamed into place so a crash never leaves half a file.
 */
export async function writeSecretFile(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    // An existing temporary file keeps its old mode; make sure of it before writing.
    await fh.chmod(0o600);
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await chmod(path, 0o600);
}
