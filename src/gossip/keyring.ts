// The gossip keyring: every key this agent can open messages with, the first one (the primary)
// being the one it seals with. Rules and error wording follow memberlist's keyring and Consul's
// agent: a key must be valid base64 of 16, 24 or 32 bytes, the primary cannot be removed, only an
// installed key can become primary. The ring lives in <data-dir>/serf/local.keyring as a JSON array
// of base64 keys, primary first, and that file, once it exists, wins over -encrypt.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { badRequest, ConsulError, ErrorCode } from '../core/errors.js';
import { isValidKeyLength } from './crypto.js';

/** Where Consul keeps the LAN keyring, relative to the data directory. */
export const LAN_KEYRING_FILE = join('serf', 'local.keyring');

export function keyringPath(dataDir: string): string {
  return join(dataDir, LAN_KEYRING_FILE);
}

/** A new random key, as `consul keygen` prints it: 32 bytes (AES-256), standard base64. */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

const B64_CHAR = /^[A-Za-z0-9+/]$/;

/**
 * Decodes standard padded base64 strictly: Node's decoder silently skips bad characters, which
 * would turn a mistyped key into a different, valid-looking one. Errors read like Go's.
 */
export function decodeBase64(text: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text[end - 1] === '=' && text.length - end < 2) end--;
  for (let i = 0; i < end; i++) {
    if (!B64_CHAR.test(text[i] as string)) throw badRequest(`illegal base64 data at input byte ${i}`);
  }
  if (text.length % 4 !== 0) {
    throw badRequest(`illegal base64 data at input byte ${text.length - (text.length % 4)}`);
  }
  return Buffer.from(text, 'base64');
}

/** Decodes and checks a key, as memberlist's ValidateKey does. */
export function decodeKey(text: string): Uint8Array {
  const raw = decodeBase64(text);
  if (!isValidKeyLength(raw.length)) throw badRequest('key size must be 16, 24 or 32 bytes');
  return raw;
}

const canonical = (raw: Uint8Array): string => Buffer.from(raw).toString('base64');

export class Keyring {
  /** Raw keys, primary first: what sealing and opening use on every message. */
  private raw: Uint8Array[] = [];
  private file: string | null = null;

  /** `keys` in base64, the first being the primary. Throws badRequest on an invalid key. */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw badRequest('Empty primary key not allowed');
    for (const k of keys) {
      const raw = decodeKey(k);
      if (this.indexOf(raw) < 0) this.raw.push(raw);
    }
  }

  /** Base64 keys, primary first. */
  list(): string[] {
    return this.raw.map(canonical);
  }

  primary(): string {
    return canonical(this.raw[0] as Uint8Array);
  }

  /** Raw keys, primary first. The array is replaced on change, never mutated, so callers may hold it. */
  keys(): readonly Uint8Array[] {
    return this.raw;
  }

  /** Adds a key for opening messages; installing a key already on the ring changes nothing. */
  install(key: string): void {
    const raw = decodeKey(key);
    if (this.indexOf(raw) >= 0) return;
    this.raw = [...this.raw, raw];
    this.save();
  }

  /** Makes an installed key the primary: every message from now on is sealed with it. */
  use(key: string): void {
    const i = this.indexOf(decodeBase64(key));
    if (i < 0) throw badRequest('Requested key is not in the keyring');
    if (i === 0) return;
    const raw = this.raw[i] as Uint8Array;
    this.raw = [raw, ...this.raw.filter((_, j) => j !== i)];
    this.save();
  }

  /** Drops a key. Removing a key that is not installed changes nothing, as in memberlist. */
  remove(key: string): void {
    const i = this.indexOf(decodeBase64(key));
    if (i === 0) throw badRequest('Removing the primary key is not allowed');
    if (i < 0) return;
    this.raw = this.raw.filter((_, j) => j !== i);
    this.save();
  }

  /** From now on every change is written to `file`; `writeNow` writes the current ring at once. */
  persistTo(file: string | null, writeNow = true): void {
    this.file = file;
    if (writeNow) this.save();
  }

  /** The file changes are written to, if any. */
  persistedTo(): string | null {
    return this.file;
  }

  /** Writes the ring to its file, if it has one. */
  save(): void {
    if (this.file) writeKeyringFile(this.file, this.list());
  }

  private indexOf(raw: Uint8Array): number {
    return this.raw.findIndex((k) => Buffer.compare(k, raw) === 0);
  }
}

/**
 * Writes the keys atomically: a crash leaves either the old file or the new one, never a torn
 * one, because the agent cannot rejoin its cluster without the right keys. Mode 0600: these are
 * the cluster's secrets.
 */
export function writeKeyringFile(file: string, keys: readonly string[]): void {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      // An old temporary file from a crash keeps its mode through 'w'; set it again.
      fchmodSync(fd, 0o600);
      writeSync(fd, JSON.stringify(keys, null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    syncDir(dir);
  } catch (err) {
    throw new ConsulError(
      ErrorCode.Internal,
      `Failed to write keyring file: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** Makes the rename durable. Some platforms cannot fsync a directory; the rename still happened. */
function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Reads a keyring file; a file that is not a non-empty JSON array of valid keys is a config error. */
export function readKeyringFile(file: string): Keyring {
  const fail = (why: string): ConsulError =>
    new ConsulError(ErrorCode.Config, `Failed to load keyring file ${file}: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
  if (!Array.isArray(parsed) || !parsed.every((k) => typeof k === 'string')) {
    throw fail('expected a JSON array of base64 keys');
  }
  if (parsed.length === 0) throw fail(`no keys present in keyring file: ${file}`);
  try {
    return new Keyring(parsed);
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The keyring an agent starts with. An existing keyring file wins over `encrypt` (the file holds
 * whatever rotations happened since -encrypt was first given; Consul warns and uses the file).
 * Otherwise `encrypt` starts the ring and the file. Neither: gossip is not encrypted (null).
 */
export function loadKeyring(opts: {
  file: string | null;
  encrypt: string | null;
  logger?: Logger;
}): Keyring | null {
  const { file, encrypt, logger } = opts;
  if (file && existsSync(file)) {
    if (encrypt) logger?.warn('WARNING: LAN keyring exists but -encrypt given, using keyring');
    const ring = readKeyringFile(file);
    ring.persistTo(file, false);
    return ring;
  }
  if (!encrypt) return null;
  let ring: Keyring;
  try {
    ring = new Keyring([encrypt]);
  } catch (err) {
    throw new ConsulError(
      ErrorCode.Config,
      `encrypt has invalid key: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (file) ring.persistTo(file);
  return ring;
}

/** loadKeyring for async callers (the agent's start-up). */
export async function openKeyring(opts: {
  file: string | null;
  encrypt: string | null;
  logger?: Logger;
}): Promise<Keyring | null> {
  return loadKeyring(opts);
}
