// A snapshot archive as Consul lays it out: a gzipped tar of meta.json (the Raft snapshot's
// metadata), state.bin (the state itself) and SHA256SUMS (sha256sum's format over the other two).
// Reading verifies all of it (gzip, tar, both checksums, the metadata's fields and the declared
// size) and throws a 400 saying what is wrong; what decodes state.bin is the caller's business.
// (De)compression runs in libuv's thread pool: a large snapshot must not stall a leader's heartbeats.

import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import { badRequest } from '../core/errors.js';
import { readTar, writeTar } from './tar.js';

/** hashicorp/raft's SnapshotMeta, in its JSON form. */
export interface SnapshotMeta {
  Version: number;
  /** `<term>-<index>-<unix ms>`, as Raft names its snapshots. */
  ID: string;
  Index: number;
  Term: number;
  Configuration: { Servers: { Suffrage: number; ID: string; Address: string }[] };
  ConfigurationIndex: number;
  /** Bytes of state.bin. */
  Size: number;
}

export interface Snapshot {
  meta: SnapshotMeta;
  state: Uint8Array;
}

/** The archive format's version (Consul's is 1 too; its state.bin is not ours, though). */
export const SNAPSHOT_VERSION = 1;

/** Largest archive or state accepted: the RPC frame a restore travels in is 512 MiB. */
export const SNAPSHOT_MAX_BYTES = 500 * 1024 * 1024;

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export async function writeArchive(s: Snapshot, now = new Date()): Promise<Uint8Array> {
  const meta = new TextEncoder().encode(JSON.stringify(s.meta) + '\n');
  const sums = `${sha256(meta)}  meta.json\n${sha256(s.state)}  state.bin\n`;
  const tar = writeTar(
    [
      { name: 'meta.json', data: meta },
      { name: 'state.bin', data: s.state },
      { name: 'SHA256SUMS', data: new TextEncoder().encode(sums) },
    ],
    now,
  );
  return gzip(tar);
}

/** The files, checked; throws a BadRequest naming the first problem found. */
export async function readArchive(archive: Uint8Array): Promise<Snapshot> {
  let tar: Uint8Array;
  try {
    tar = await gunzip(archive, { maxOutputLength: SNAPSHOT_MAX_BYTES + 1024 * 1024 });
  } catch (err) {
    throw badRequest(`failed to decompress snapshot: ${(err as Error).message}`);
  }
  const files = new Map<string, Uint8Array>();
  for (const f of readTar(tar)) {
    if (!['meta.json', 'state.bin', 'SHA256SUMS'].includes(f.name))
      throw badRequest(`failed reading snapshot: unexpected file ${JSON.stringify(f.name)} in snapshot`);
    if (files.has(f.name))
      throw badRequest(`failed reading snapshot: ${JSON.stringify(f.name)} appears twice`);
    files.set(f.name, f.data);
  }
  verifySums(files);
  const meta = parseMeta(files.get('meta.json') as Uint8Array);
  const state = files.get('state.bin') as Uint8Array;
  if (meta.Size !== state.byteLength)
    throw badRequest(
      `failed reading snapshot: state.bin holds ${state.byteLength} bytes, its metadata says ${meta.Size}`,
    );
  return { meta, state };
}

/** Every file has its line in SHA256SUMS, every line's file is there, and each sum matches. */
function verifySums(files: Map<string, Uint8Array>): void {
  const integrity = (why: string): Error => badRequest(`failed checking integrity of snapshot: ${why}`);
  const sums = files.get('SHA256SUMS');
  if (!sums) throw integrity('SHA256SUMS is missing');
  const seen = new Set<string>();
  for (const line of new TextDecoder().decode(sums).split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!m) throw integrity(`bad line in SHA256SUMS: ${JSON.stringify(line.slice(0, 80))}`);
    const [, sum, name] = m as unknown as [string, string, string];
    const data = files.get(name);
    if (name === 'SHA256SUMS' || !data) throw integrity(`list missing hash for ${JSON.stringify(name)}`);
    if (sha256(data) !== sum) throw integrity(`hash check failed for ${JSON.stringify(name)}`);
    seen.add(name);
  }
  for (const name of ['meta.json', 'state.bin']) {
    if (!files.has(name)) throw integrity(`file missing for ${JSON.stringify(name)}`);
    if (!seen.has(name)) throw integrity(`list missing hash for ${JSON.stringify(name)}`);
  }
}

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseMeta(bytes: Uint8Array): SnapshotMeta {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch (err) {
    throw badRequest(`failed to decode snapshot metadata: ${(err as Error).message}`);
  }
  const bad = (why: string): Error => badRequest(`failed to decode snapshot metadata: ${why}`);
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad('not a JSON object');
  if (m['Version'] !== SNAPSHOT_VERSION) throw bad(`unsupported version ${JSON.stringify(m['Version'])}`);
  for (const f of ['Index', 'Term', 'Size'] as const) if (!isNat(m[f])) throw bad(`${f} must be a number`);
  if (typeof m['ID'] !== 'string') throw bad('ID must be a string');
  const cfg = m['Configuration'] as { Servers?: unknown } | undefined;
  const servers = Array.isArray(cfg?.Servers)
    ? (cfg.Servers as SnapshotMeta['Configuration']['Servers'])
    : [];
  return {
    Version: SNAPSHOT_VERSION,
    ID: m['ID'],
    Index: m['Index'] as number,
    Term: m['Term'] as number,
    Configuration: { Servers: servers },
    ConfigurationIndex: isNat(m['ConfigurationIndex']) ? m['ConfigurationIndex'] : 0,
    Size: m['Size'] as number,
  };
}
