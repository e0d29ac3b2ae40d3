// Raft storage on disk: a segmented write-ahead log plus snapshot files.
//
// WAL segment `wal-<seq>.log`: an 8-byte magic, then records [u32 length][u32 crc32][u8 type][payload]
// where the CRC covers type and payload. Entry records carry index, term, type and data; hard-state
// records carry term, commit and vote, and every segment starts with one, so deleting old segments
// never loses the newest hard state. A record whose index is <= the previous one truncates the log
// there (a leader overwrote a conflicting suffix), so the log is only ever appended to.
//
// At start, a damaged record at the very end of the last segment with nothing valid after it is a
// torn write from a crash: the file is cut back to the last good record. Damage anywhere else is
// corruption: we refuse to start and name the file, because silently skipping records could lose
// acknowledged writes.
//
// Snapshots `snap-<term>-<index>.snap` are written to a temp file, fsynced, renamed and the
// directory fsynced; the two newest are kept.

import { mkdir, open, readdir, readFile, rename, rm, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import { emptyHardState, type Entry, type EntryType, type HardState, type SnapshotMeta } from '../types.js';
import type { LoadedState, RaftStorage } from './storage.js';

const WAL_MAGIC = Buffer.from('CSLWAL01');
const SNAP_MAGIC = Buffer.from('CSLSNP01');
const REC_ENTRY = 1;
const REC_HARD = 2;
const HEADER = 9; // length, crc, type
/** No single record is larger than a Raft message can carry; anything bigger is garbage. */
const MAX_RECORD = 256 << 20;

interface Segment {
  seq: number;
  path: string;
  /** Highest entry index written to this segment (0 if none). */
  maxIndex: number;
}

interface Pending {
  buf: Buffer;
  hard: HardState | null;
  maxIndex: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface FileStorageOptions {
  segmentBytes?: number;
  /** Off only in benchmarks that want to see the cost of fsync. */
  fsync?: boolean;
}

export class FileStorage implements RaftStorage {
  private readonly segmentBytes: number;
  private readonly fsync: boolean;
  private segments: Segment[] = [];
  private lastSeq = 0;
  private fh: FileHandle | null = null;
  private size = 0;
  /** The newest hard state already in the file: what a new segment starts with. Never a queued one,
   * whose commit index could point past entries not yet written. */
  private hard: HardState = { ...emptyHardState };
  private queue: Pending[] = [];
  private flushing = false;
  private snapshots: { meta: SnapshotMeta; path: string }[] = [];
  readonly stats = { fsyncs: 0, writes: 0 };

  constructor(
    private readonly dir: string,
    opts: FileStorageOptions = {},
  ) {
    this.segmentBytes = opts.segmentBytes ?? 64 << 20;
    this.fsync = opts.fsync ?? true;
  }

  // ---------------------------------------------------------------- load

  async load(): Promise<LoadedState> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const names = await readdir(this.dir);
    for (const n of names) if (n.endsWith('.tmp')) await rm(join(this.dir, n), { force: true });
    const segs = names
      .map((n) => /^wal-(\d{20})\.log$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: Number(m[1]), path: join(this.dir, m[0]), maxIndex: 0 }))
      .sort((a, b) => a.seq - b.seq);

    let entries: Entry[] = [];
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as Segment;
      const last = i === segs.length - 1;
      entries = await this.replaySegment(seg, last, entries);
    }
    this.segments = segs.filter((s) => s.maxIndex >= 0);
    this.lastSeq = segs.at(-1)?.seq ?? 0;

    const snapshot = await this.loadSnapshots(entries);
    const after = snapshot?.index ?? 0;
    entries = entries.filter((e) => e.index > after);
    const first = entries[0];
    if (first && first.index !== after + 1) {
      throw corrupt(
        this.dir,
        0,
        `the log starts at index ${first.index} but the newest snapshot ends at ${after}`,
      );
    }

    // Appends go to a fresh segment: never write after a record we had to cut back to.
    await this.openNewSegment();
    return { hardState: { ...this.hard }, snapshot, entries };
  }

  private async replaySegment(seg: Segment, last: boolean, entries: Entry[]): Promise<Entry[]> {
    const buf = await readFile(seg.path);
    if (buf.length < WAL_MAGIC.length || !buf.subarray(0, WAL_MAGIC.length).equals(WAL_MAGIC)) {
      if (last && buf.length < WAL_MAGIC.length && WAL_MAGIC.subarray(0, buf.length).equals(buf)) {
        // The crash came while the segment was being created: it holds nothing.
        await rm(seg.path, { force: true });
        seg.maxIndex = -1;
        return entries;
      }
      throw corrupt(seg.path, 0, 'not a write-ahead log segment (bad magic)');
    }
    let off = WAL_MAGIC.length;
    while (off < buf.length) {
      const rec = readRecord(buf, off);
      if (!rec.ok) {
        if (last && !hasValidRecordAfter(buf, off + 1)) {
          // A torn write: the crash came in the middle of this record. Everything before it is intact.
          await truncate(seg.path, off);
          break;
        }
        throw corrupt(seg.path, off, rec.why);
      }
      if (rec.type === REC_HARD) {
        this.hard = decodeHard(rec.payload);
      } else if (rec.type === REC_ENTRY) {
        const e = decodeEntry(rec.payload);
        const prev = entries[entries.length - 1];
        if (prev && e.index <= prev.index) {
          // An overwrite: drop the old suffix from this index on.
          const cut = entries.findIndex((x) => x.index >= e.index);
          entries.length = cut >= 0 ? cut : entries.length;
        } else if (prev && e.index !== prev.index + 1) {
          throw corrupt(seg.path, off, `gap in the log: entry ${e.index} follows ${prev.index}`);
        }
        entries.push(e);
        seg.maxIndex = Math.max(seg.maxIndex, e.index);
      } else {
        throw corrupt(seg.path, off, `unknown record type ${rec.type}`);
      }
      off = rec.next;
    }
    return entries;
  }

  private async loadSnapshots(entries: Entry[]): Promise<SnapshotMeta | null> {
    const names = (await readdir(this.dir))
      .map((n) => /^snap-(\d+)-(\d+)\.snap$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ index: Number(m[2]), path: join(this.dir, m[0]) }))
      .sort((a, b) => b.index - a.index);
    this.snapshots = [];
    let firstError: ConsulError | null = null;
    for (const s of names) {
      try {
        const { meta } = await readSnapshotFile(s.path);
        // An older snapshot is only usable if the log still reaches back to just after it.
        const firstEntry = entries[0]?.index ?? 1;
        if (firstError && firstEntry > meta.index + 1) throw firstError;
        this.snapshots.push({ meta, path: s.path });
      } catch (err) {
        if (err instanceof ConsulError && err !== firstError) {
          firstError ??= err;
          continue;
        }
        throw err;
      }
    }
    this.snapshots.sort((a, b) => a.meta.index - b.meta.index);
    const newest = this.snapshots.at(-1)?.meta ?? null;
    if (!newest && firstError) {
      const firstEntry = entries[0]?.index ?? 1;
      if (firstEntry > 1) throw firstError; // the log alone cannot rebuild the state
    }
    return newest;
  }

  // ---------------------------------------------------------------- append (group commit)

  append(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    const parts: Buffer[] = [];
    let maxIndex = 0;
    for (const e of entries) {
      parts.push(encodeRecord(REC_ENTRY, encodeEntry(e)));
      maxIndex = e.index;
    }
    if (hardState) parts.push(encodeRecord(REC_HARD, encodeHard(hardState)));
    if (parts.length === 0) return Promise.resolve();
    const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ buf, hard: hardState ? { ...hardState } : null, maxIndex, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        let maxIndex = 0;
        let hard: HardState | null = null;
        for (const p of batch) {
          maxIndex = Math.max(maxIndex, p.maxIndex);
          hard = p.hard ?? hard;
        }
        try {
          if (this.size >= this.segmentBytes) await this.openNewSegment();
          const buf = batch.length === 1 ? (batch[0] as Pending).buf : Buffer.concat(batch.map((p) => p.buf));
          await this.writeAll(buf);
          if (this.fsync) {
            await (this.fh as FileHandle).datasync();
            this.stats.fsyncs++;
          }
          if (hard) this.hard = hard;
          const cur = this.segments.at(-1);
          if (cur && maxIndex > 0) cur.maxIndex = Math.max(cur.maxIndex, maxIndex);
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeAll(buf: Buffer): Promise<void> {
    const fh = this.fh as FileHandle;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, this.size);
      off += bytesWritten;
      this.size += bytesWritten;
    }
    this.stats.writes++;
  }

  private async openNewSegment(): Promise<void> {
    if (this.fh) await this.fh.close();
    const seq = ++this.lastSeq;
    const path = join(this.dir, `wal-${String(seq).padStart(20, '0')}.log`);
    const fh = await open(path, 'w', 0o600);
    const head = Buffer.concat([WAL_MAGIC, encodeRecord(REC_HARD, encodeHard(this.hard))]);
    await fh.write(head, 0, head.length, 0);
    if (this.fsync) await fh.datasync();
    await this.fsyncDir();
    this.fh = fh;
    this.size = head.length;
    this.segments.push({ seq, path, maxIndex: 0 });
  }

  // ---------------------------------------------------------------- snapshots and compaction

  async saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const path = join(this.dir, `snap-${meta.term}-${meta.index}.snap`);
    const metaBuf = pack(meta);
    const head = Buffer.alloc(SNAP_MAGIC.length + 12);
    SNAP_MAGIC.copy(head, 0);
    head.writeUInt32LE(metaBuf.length, 8);
    const body = Buffer.concat([metaBuf, data]);
    head.writeUInt32LE(crc32(body), 12);
    head.writeUInt32LE(0, 16);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(Buffer.concat([head, body]));
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await this.fsyncDir();
    this.snapshots = this.snapshots.filter((s) => s.path !== path);
    this.snapshots.push({ meta, path });
    this.snapshots.sort((a, b) => a.meta.index - b.meta.index);
    while (this.snapshots.length > 2) {
      const old = this.snapshots.shift() as { path: string };
      await rm(old.path, { force: true });
    }
  }

  async installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    await this.saveSnapshot(meta, data);
    // The leader's snapshot replaces our log: start a fresh segment and drop the old ones.
    await this.waitIdle();
    const old = this.segments;
    this.segments = [];
    await this.openNewSegment();
    for (const s of old) await rm(s.path, { force: true });
  }

  async readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
    const s = this.snapshots.at(-1);
    if (!s) return null;
    return readSnapshotFile(s.path);
  }

  async compact(upTo: number): Promise<void> {
    await this.waitIdle();
    const cur = this.segments.at(-1);
    const doomed = new Set(this.segments.filter((s) => s !== cur && s.maxIndex <= upTo));
    // Forget them first: a rollover during the deletes must not be lost from the list.
    this.segments = this.segments.filter((s) => !doomed.has(s));
    for (const s of doomed) await rm(s.path, { force: true });
  }

  async close(): Promise<void> {
    await this.waitIdle();
    await this.fh?.close();
    this.fh = null;
  }

  private async waitIdle(): Promise<void> {
    while (this.flushing) await new Promise((r) => setImmediate(r));
  }

  private async fsyncDir(): Promise<void> {
    if (!this.fsync) return;
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

// ---------------------------------------------------------------- encoding

function encodeRecord(type: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  b.writeUInt32LE(payload.length + 1, 0);
  b.writeUInt8(type, 8);
  payload.copy(b, HEADER);
  b.writeUInt32LE(crc32(b.subarray(8)), 4);
  return b;
}

type RecordRead = { ok: true; type: number; payload: Buffer; next: number } | { ok: false; why: string };

function readRecord(buf: Buffer, off: number): RecordRead {
  if (off + HEADER > buf.length) return { ok: false, why: 'truncated record header' };
  const len = buf.readUInt32LE(off);
  if (len < 1 || len > MAX_RECORD) return { ok: false, why: `implausible record length ${len}` };
  const end = off + 8 + len;
  if (end > buf.length) return { ok: false, why: 'record runs past the end of the file' };
  const body = buf.subarray(off + 8, end);
  if (crc32(body) !== buf.readUInt32LE(off + 4)) return { ok: false, why: 'checksum mismatch' };
  return { ok: true, type: body[0] as number, payload: body.subarray(1), next: end };
}

/** Whether any well-formed record starts after `from`: tells mid-log corruption from a torn tail. */
function hasValidRecordAfter(buf: Buffer, from: number): boolean {
  for (let o = from; o + HEADER <= buf.length; o++) {
    const r = readRecord(buf, o);
    if (r.ok && (r.type === REC_ENTRY || r.type === REC_HARD)) return true;
  }
  return false;
}

function encodeEntry(e: Entry): Buffer {
  const b = Buffer.allocUnsafe(17 + e.data.byteLength);
  b.writeDoubleLE(e.index, 0);
  b.writeDoubleLE(e.term, 8);
  b.writeUInt8(e.type, 16);
  b.set(e.data, 17);
  return b;
}

function decodeEntry(p: Buffer): Entry {
  // The data is copied out so the segment buffer read at start can be released.
  return {
    index: p.readDoubleLE(0),
    term: p.readDoubleLE(8),
    type: p.readUInt8(16) as EntryType,
    data: new Uint8Array(p.subarray(17)),
  };
}

function encodeHard(h: HardState): Buffer {
  const vote = Buffer.from(h.vote, 'utf8');
  const b = Buffer.allocUnsafe(16 + vote.length);
  b.writeDoubleLE(h.term, 0);
  b.writeDoubleLE(h.commit, 8);
  vote.copy(b, 16);
  return b;
}

function decodeHard(p: Buffer): HardState {
  return { term: p.readDoubleLE(0), commit: p.readDoubleLE(8), vote: p.subarray(16).toString('utf8') };
}

async function readSnapshotFile(path: string): Promise<{ meta: SnapshotMeta; data: Uint8Array }> {
  const buf = await readFile(path);
  if (buf.length < 20 || !buf.subarray(0, 8).equals(SNAP_MAGIC))
    throw corrupt(path, 0, 'not a snapshot file (bad magic)');
  const metaLen = buf.readUInt32LE(8);
  const body = buf.subarray(20);
  if (metaLen > body.length) throw corrupt(path, 8, 'snapshot metadata runs past the end of the file');
  if (crc32(body) !== buf.readUInt32LE(12)) throw corrupt(path, 12, 'snapshot checksum mismatch');
  let meta: SnapshotMeta;
  try {
    meta = unpack(body.subarray(0, metaLen)) as SnapshotMeta;
  } catch {
    throw corrupt(path, 20, 'snapshot metadata undecodable');
  }
  return { meta, data: new Uint8Array(body.subarray(metaLen)) };
}

function corrupt(path: string, offset: number, why: string): ConsulError {
  return new ConsulError(
    ErrorCode.Corrupt,
    `raft storage corrupt: ${path} at offset ${offset}: ${why} (refusing to start; move the file away to recover this server from the others)`,
  );
}
