// The few tar features a snapshot archive needs (POSIX ustar: regular files, 512-byte blocks),
// written here rather than taken from a package: three small files in, the same three out. The
// reader checks every header's checksum and refuses what it does not understand, so a damaged
// archive fails here rather than later.

import { badRequest, type ConsulError } from '../core/errors.js';

const BLOCK = 512;

export interface TarFile {
  name: string;
  data: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An octal field of `width` bytes: digits, then a NUL. */
function putOctal(h: Uint8Array, off: number, width: number, n: number): void {
  h.set(enc.encode(n.toString(8).padStart(width - 1, '0') + '\0'), off);
}

function header(name: string, size: number, mtimeSec: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const nameBytes = enc.encode(name);
  if (nameBytes.byteLength > 100) throw badRequest(`tar: name too long: ${name}`);
  h.set(nameBytes, 0);
  putOctal(h, 100, 8, 0o600); // mode
  putOctal(h, 108, 8, 0); // uid
  putOctal(h, 116, 8, 0); // gid
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, mtimeSec);
  h[156] = 0x30; // '0': a regular file
  h.set(enc.encode('ustar\0'), 257);
  h.set(enc.encode('00'), 263);
  // The checksum is taken with its own field as eight spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  return h;
}

/** A tar archive of `files`, in order, closed by two zero blocks. */
export function writeTar(files: TarFile[], mtime: Date): Uint8Array {
  const mtimeSec = Math.floor(mtime.getTime() / 1000);
  let total = 2 * BLOCK;
  for (const f of files) total += BLOCK + Math.ceil(f.data.byteLength / BLOCK) * BLOCK;
  const out = new Uint8Array(total);
  let off = 0;
  for (const f of files) {
    out.set(header(f.name, f.data.byteLength, mtimeSec), off);
    off += BLOCK;
    out.set(f.data, off);
    off += Math.ceil(f.data.byteLength / BLOCK) * BLOCK;
  }
  return out;
}

function fail(why: string): ConsulError {
  return badRequest(`failed reading snapshot: ${why}`);
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return dec.decode(nul >= 0 ? b.subarray(0, nul) : b);
}

/** An octal number field; GNU's base-256 form (high bit set) too, which large sizes use. */
function readNumber(b: Uint8Array, what: string): number {
  if (b[0] !== undefined && (b[0] & 0x80) !== 0) {
    let n = b[0] & 0x7f;
    for (const x of b.subarray(1)) n = n * 256 + x;
    if (!Number.isSafeInteger(n)) throw fail(`${what} out of range`);
    return n;
  }
  const s = cString(b).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw fail(`invalid ${what} field`);
  return parseInt(s, 8);
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/**
 * The regular files of a tar archive. Extended headers (pax, GNU long names) are skipped; any
 * other kind of entry, a bad header checksum or data cut short is an error.
 */
export function readTar(bytes: Uint8Array): TarFile[] {
  const files: TarFile[] = [];
  let off = 0;
  for (;;) {
    if (off + BLOCK > bytes.byteLength) throw fail('unexpected end of archive');
    const h = bytes.subarray(off, off + BLOCK);
    if (isZero(h)) return files;
    const want = readNumber(h.subarray(148, 156), 'checksum');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    if (sum !== want) throw fail('archive/tar: invalid tar header (checksum mismatch)');
    const size = readNumber(h.subarray(124, 136), 'size');
    const type = h[156];
    const prefix = cString(h.subarray(345, 500));
    const base = cString(h.subarray(0, 100));
    const name = prefix !== '' ? `${prefix}/${base}` : base;
    off += BLOCK;
    if (off + size > bytes.byteLength) throw fail(`unexpected end of archive in ${JSON.stringify(name)}`);
    const data = bytes.subarray(off, off + size);
    off += Math.ceil(size / BLOCK) * BLOCK;
    // 'x' / 'g' (pax) and 'L' / 'K' (GNU long names) describe the next entry: nothing to keep.
    if (type === 0x78 || type === 0x67 || type === 0x4c || type === 0x4b) continue;
    if (type !== 0x30 && type !== 0) throw fail(`unexpected entry type in ${JSON.stringify(name)}`);
    files.push({ name, data });
  }
}
