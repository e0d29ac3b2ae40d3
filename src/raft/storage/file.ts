// Raft storage on disk: a segmented write-ahead log plus snapshot files.
//
// Segment `wal-<20-digit sequence>.log` = 8-byte magic, then records:
//
//   [u32 len][u32 crc32][u8 type][payload]      len = 1 + payload length, crc covers type + payload
//
//   ENTRY  index u64, term u64, entry type u8, data
//   HARD   term u64, commit u64, vote (utf-8)
//   RESET  index u64, term u64: the log was replaced by a leader's snapshot and continues at index + 1
//
// (u64 = two little-endian u32 halves; Raft indexes and terms stay far below 2^53.) The log is only ever
// appended to: an entry whose index is <= the previous one truncates the log there, so overwriting a
// conflicting suffix is one sequential write. Every segment starts with the hard state current when it was
// created, so deleting old segments can never lose the newest hard state.
//
// Torn tail vs corruption: a crash can only damage the data written after the last fdatasync, which is always
// the end of the last segment. So a bad record at the end of the last segment with no well-formed record
// anywhere after it is a torn write, and the file is cut back to the last good record. A bad record anywhere
// else (or followed by good records) means bytes that were durable changed; skipping them could lose writes
// this server acknowledged, so load() refuses to start and names the file and offset.
//
// Snapshot `snap-<term>-<index>.snap` = [magic 8][u32 version][u32 meta length][u64 data length]
// [u32 crc32 of bytes 8..24 + meta + data][msgpack meta][data]. Written as `*.tmp`, fsynced, renamed, and the
// directory fsynced; the two newest are kept.

import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import { emptyHardState, type Entry, type EntryType, type HardState, type SnapshotMeta } from '../types.js';
import type { LoadedState, RaftStorage } from './storage.js';

const WAL_MAGIC = Buffer.from('CSLTWAL1', 'latin1');
const SNAP_MAGIC = Buffer.from('CSLTSNAP', 'latin1');
const SNAP_VERSION = 1;
const SNAP_HEADER = 28;

const REC_ENTRY = 1;
const REC_HARD = 2;
const REC_RESET = 3;
/** len + crc + type. */
const REC_HEADER = 9;
const ENTRY_FIXED = 17;
const HARD_FIXED = 16;
const RESET_SIZE = 16;
/** Linux's IOV_MAX: more buffers than this and writev is split into several syscalls. */
const IOV_MAX = 1024;
const TWO_32 = 0x1_0000_0000;

const SEG_RE = /^wal-(\d{20})\.log$/;
const SNAP_RE = /^snap-(\d+)-(\d+)\.snap$/;

export interface FileStorageOptions {
  /** A new segment is started once the current one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Off only for benchmarks and tests that do not care about power loss. Default true. */
  fsync?: boolean;
}

interface Segment {
  seq: number;
  path: string;
  /** The highest index any record in the file mentions: the file may go once that is compacted away. */
  maxIndex: number;
  size: number;
}

interface AppendOp {
  kind: 'append';
  buf: Buffer;
  hard: HardState | null;
  maxIndex: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Anything that must not interleave with a WAL write (rollover, reset, deleting segments, close). */
interface BarrierOp {
  kind: 'barrier';
  run: () => Promise<void>;
}

type Op = AppendOp | BarrierOp;

interface SnapFile {
  index: number;
  term: number;
  path: string;
}

export class FileStorage implements RaftStorage {
  private readonly segmentBytes: number;
  private readonly fsync: boolean;
  private phase: 'new' | 'open' | 'closed' = 'new';
  private segments: Segment[] = [];
  private lastSeq = 0;
  private fh: FileHandle | null = null;
  private size = 0;
  /** The newest hard state known durable: what a new segment starts with. Never a queued one, whose commit
   * could point at entries not yet written. */
  private hard: HardState = { ...emptyHardState };
  /** The log's last index as of the last call (not the last write): appends are validated in call order. */
  private lastIndex = 0;
  /** Set once a WAL write or fsync fails: after that the file's state is unknown (a partial record, or pages
   * the kernel dropped), so nothing more may be written to it. */
  private failed: Error | null = null;
  private ops: Op[] = [];
  private draining = false;
  /** Snapshot file operations run one at a time, apart from the WAL so a big snapshot never stalls appends. */
  private snapChain: Promise<unknown> = Promise.resolve();
  private current: { meta: SnapshotMeta; path: string } | null = null;
  /** The snapshot load() verified, kept until the driver reads it so start-up reads it only once. */
  private loaded: { meta: SnapshotMeta; data: Uint8Array } | null = null;
  readonly stats = { writes: 0, fsyncs: 0, dirSyncs: 0, batches: 0 };

  constructor(
    private readonly dir: string,
    opts: FileStorageOptions = {},
  ) {
    this.segmentBytes = opts.segmentBytes ?? 64 << 20;
    this.fsync = opts.fsync ?? true;
  }

  // ------------------------------------------------------------------------------------------ load

  async load(): Promise<LoadedState> {
    if (this.phase !== 'new') throw new ConsulError(ErrorCode.Internal, 'raft storage: load() called twice');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const segs: Segment[] = [];
    const snaps: SnapFile[] = [];
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        // A snapshot whose rename never happened: incomplete by construction.
        await rm(path, { force: true });
        continue;
      }
      const seg = SEG_RE.exec(name);
      if (seg) segs.push({ seq: Number(seg[1]), path, maxIndex: 0, size: 0 });
      const snap = SNAP_RE.exec(name);
      if (snap) snaps.push({ term: Number(snap[1]), index: Number(snap[2]), path });
    }
    segs.sort((a, b) => a.seq - b.seq);
    snaps.sort(newestFirst);
    this.lastSeq = segs.at(-1)?.seq ?? 0;

    const r = new Replay();
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as Segment;
      const last = i === segs.length - 1;
      if (!(await this.replaySegment(seg, last, r))) segs.pop(); // an empty stub, deleted
      if (r.resetIn === seg) r.resetPos = i;
    }
    if (segs.length === 0 && snaps.length > 0) {
      // Every instance that ever saved a snapshot had a segment, and the current one is never deleted.
      throw corrupt(
        this.dir,
        0,
        'snapshots exist but the write-ahead log is gone (the term and vote are lost)',
      );
    }

    const snapshot = await this.pickSnapshot(snaps, r);
    const base = snapshot?.index ?? 0;
    let entries = r.entries;
    const first = entries[0];
    if (first) {
      if (first.index > base + 1) {
        const at = r.firstAt ?? { path: this.dir, off: 0 };
        const why = snapshot
          ? `the log starts at index ${first.index} but the snapshot ${this.current?.path} ends at ${base}`
          : `the log starts at index ${first.index} and there is no snapshot`;
        throw corrupt(at.path, at.off, why);
      }
      if (first.index <= base) entries = entries.slice(base + 1 - first.index);
    } else if (r.resetBase > base) {
      const at = r.resetAt ?? { path: this.dir, off: 0 };
      throw corrupt(at.path, at.off, `the log was replaced by snapshot ${r.resetBase}, which is missing`);
    }

    // Segments before the last reset are dead; an install normally deletes them, unless it crashed first.
    if (r.resetPos > 0) {
      for (const seg of segs.slice(0, r.resetPos)) await this.removeInOrder(seg.path);
      segs.splice(0, r.resetPos);
    }

    this.hard = { ...r.hard };
    this.segments = segs;
    this.lastIndex = Math.max(base, entries.at(-1)?.index ?? 0);
    const tail = segs.at(-1);
    if (tail && tail.size < this.segmentBytes) {
      this.fh = await open(tail.path, 'r+');
      this.size = tail.size;
    } else {
      await this.openSegment(null);
    }
    this.phase = 'open';
    return { hardState: { ...r.hard }, snapshot, entries };
  }

  /** Replays one segment into `r`; false if it was an empty stub and has been deleted. */
  private async replaySegment(seg: Segment, last: boolean, r: Replay): Promise<boolean> {
    const buf = await readFile(seg.path);
    seg.size = buf.length;
    if (buf.length < WAL_MAGIC.length || !buf.subarray(0, WAL_MAGIC.length).equals(WAL_MAGIC)) {
      if (last && buf.length < WAL_MAGIC.length && buf.equals(WAL_MAGIC.subarray(0, buf.length))) {
        await this.removeInOrder(seg.path); // the crash came while the segment was being created
        return false;
      }
      throw corrupt(seg.path, 0, 'not a write-ahead log segment (bad magic)');
    }
    let off = WAL_MAGIC.length;
    while (off < buf.length) {
      const rec = readRecord(buf, off);
      if (typeof rec === 'string') {
        if (!last) throw corrupt(seg.path, off, `${rec} in a segment that is not the last one`);
        const next = findRecordAfter(buf, off + 1);
        if (next >= 0) throw corrupt(seg.path, off, `${rec}, with a valid record after it at offset ${next}`);
        await this.truncateFile(seg.path, off);
        seg.size = off;
        break;
      }
      if (rec.type === REC_ENTRY) {
        const e = decodeEntry(buf, rec.start, rec.end);
        if (!r.addEntry(e, seg.path, off)) {
          throw corrupt(seg.path, off, `gap in the log: entry ${e.index} follows ${r.lastIndex()}`);
        }
        if (e.index > seg.maxIndex) seg.maxIndex = e.index;
      } else if (rec.type === REC_HARD) {
        r.hard = decodeHard(buf, rec.start, rec.end);
      } else {
        const index = getU64(buf, rec.start);
        r.reset(index, seg, off);
        if (index > seg.maxIndex) seg.maxIndex = index;
      }
      off = rec.end;
    }
    if (off <= WAL_MAGIC.length && last) {
      // Only the magic survived: the segment holds nothing, not even its hard-state head.
      await this.removeInOrder(seg.path);
      return false;
    }
    return true;
  }

  /** The newest readable snapshot; a damaged newer one is skipped only if the log can replace it. */
  private async pickSnapshot(snaps: SnapFile[], r: Replay): Promise<SnapshotMeta | null> {
    const bad: { file: SnapFile; err: CorruptError }[] = [];
    let chosen: { meta: SnapshotMeta; data: Uint8Array; path: string } | null = null;
    for (const file of snaps) {
      try {
        const s = parseSnapshot(await readFile(file.path), file.path);
        if (s.meta.index !== file.index || s.meta.term !== file.term) {
          throw corrupt(file.path, SNAP_HEADER, `metadata says ${s.meta.term}-${s.meta.index}`);
        }
        chosen = { ...s, path: file.path };
        break;
      } catch (err) {
        if (!(err instanceof CorruptError)) throw err;
        bad.push({ file, err });
      }
    }
    const newestBad = bad[0];
    if (newestBad) {
      // Falling back is safe only if the log still holds every entry the damaged snapshot covered.
      const base = chosen?.meta.index ?? 0;
      const first = r.entries[0]?.index;
      const last = r.entries.at(-1)?.index;
      const covered =
        first !== undefined && last !== undefined && first <= base + 1 && last >= newestBad.file.index;
      if (!covered) {
        const { path, offset, why } = newestBad.err;
        const fallback = chosen ? `snapshot ${chosen.path}` : 'an empty state';
        throw corrupt(
          path,
          offset,
          `${why}, and the log does not hold indexes ${base + 1}..${newestBad.file.index} needed to fall back to ${fallback}`,
        );
      }
      // Kept for inspection, out of the way of the next start and of snapshot rotation.
      for (const b of bad) await rename(b.file.path, `${b.file.path}.corrupt`);
      await this.syncDir();
    }
    if (!chosen) return null;
    this.current = { meta: chosen.meta, path: chosen.path };
    this.loaded = { meta: chosen.meta, data: chosen.data };
    return chosen.meta;
  }

  // ------------------------------------------------------------------------------------------ append

  append(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    const first = entries[0];
    let maxIndex = 0;
    if (first) {
      if (first.index < 1 || first.index > this.lastIndex + 1) {
        return Promise.reject(
          new ConsulError(
            ErrorCode.Internal,
            `raft storage: append at index ${first.index} would leave a gap after ${this.lastIndex}`,
          ),
        );
      }
      for (let i = 1; i < entries.length; i++) {
        if ((entries[i] as Entry).index !== first.index + i) {
          return Promise.reject(new ConsulError(ErrorCode.Internal, 'raft storage: entries not contiguous'));
        }
      }
      maxIndex = first.index + entries.length - 1;
      this.lastIndex = maxIndex;
    } else if (!hardState) {
      return Promise.resolve();
    }
    // Encoded now, into one buffer: the caller may reuse its objects, and the write path only concatenates.
    const buf = encodeAppend(entries, hardState);
    const hard = hardState ? { ...hardState } : null;
    return new Promise<void>((resolve, reject) => {
      this.ops.push({ kind: 'append', buf, hard, maxIndex, resolve, reject });
      this.kick();
    });
  }

  private barrier(run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ops.push({
        kind: 'barrier',
        run: () => run().then(resolve, reject),
      });
      this.kick();
    });
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    // Deferred by a microtask so that calls made in the same tick already share the first write.
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.ops.length > 0) {
        const head = this.ops[0] as Op;
        if (head.kind === 'barrier') {
          this.ops.shift();
          await head.run();
          continue;
        }
        let n = 1;
        while (n < this.ops.length && (this.ops[n] as Op).kind === 'append') n++;
        await this.writeBatch(this.ops.splice(0, n) as AppendOp[]);
      }
    } finally {
      this.draining = false;
    }
  }

  private async writeBatch(batch: AppendOp[]): Promise<void> {
    const err = this.writeBlocked();
    if (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    try {
      if (this.size >= this.segmentBytes) await this.openSegment(null);
      const fh = this.fh as FileHandle;
      let bufs = batch.map((op) => op.buf);
      if (bufs.length > IOV_MAX) bufs = [Buffer.concat(bufs)];
      const { written, calls } = await writeAll(fh, bufs, this.size);
      this.size += written;
      this.stats.writes += calls;
      this.stats.batches++;
      if (this.fsync) {
        await fh.datasync();
        this.stats.fsyncs++;
      }
    } catch (e) {
      this.failed = asError(e);
      for (const op of batch) op.reject(this.failed);
      return;
    }
    const seg = this.segments.at(-1) as Segment;
    for (const op of batch) {
      if (op.hard) this.hard = op.hard;
      if (op.maxIndex > seg.maxIndex) seg.maxIndex = op.maxIndex;
    }
    for (const op of batch) op.resolve();
  }

  /** Starts a new segment: magic, the durable hard state, then `extra`, made durable before it is used. */
  private async openSegment(extra: Buffer | null): Promise<void> {
    const seq = ++this.lastSeq;
    const path = join(this.dir, `wal-${String(seq).padStart(20, '0')}.log`);
    const parts = [WAL_MAGIC, encodeAppend([], this.hard)];
    if (extra) parts.push(extra);
    const head = Buffer.concat(parts);
    const fh = await open(path, 'wx', 0o600);
    try {
      await writeAll(fh, [head], 0);
      if (this.fsync) await fh.datasync();
      await this.syncDir();
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    const old = this.fh;
    this.fh = fh;
    this.size = head.length;
    this.segments.push({ seq, path, maxIndex: 0, size: head.length });
    // Everything in the old segment is already fsynced, so a failing close cannot lose data.
    if (old) await old.close().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------ snapshots

  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    return this.onSnapChain(() => this.writeSnapshot(meta, data));
  }

  installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    // Appends made after this call continue after the snapshot, so validate them against it now.
    this.lastIndex = meta.index;
    const written = this.onSnapChain(() => this.writeSnapshot(meta, data));
    written.catch(() => undefined); // awaited below; this only keeps Node from calling it unhandled meanwhile
    // The snapshot must be durable before the reset record: a reset without its snapshot loses the state.
    // The reset then goes into a new segment so every older segment can simply be deleted; if the deletes
    // do not all happen before a crash, load() still ignores everything before the reset.
    return this.barrier(async () => {
      await written;
      const failed = this.writeBlocked();
      if (failed) throw failed;
      const reset = Buffer.allocUnsafe(REC_HEADER + RESET_SIZE);
      writeRecordHeader(reset, 0, REC_RESET, RESET_SIZE);
      putU64(reset, REC_HEADER, meta.index);
      putU64(reset, REC_HEADER + 8, meta.term);
      sealRecord(reset, 0, RESET_SIZE);
      try {
        await this.openSegment(reset);
      } catch (e) {
        this.failed = asError(e);
        throw e;
      }
      const cur = this.segments.at(-1) as Segment;
      cur.maxIndex = meta.index;
      while (this.segments.length > 1) {
        await this.removeInOrder((this.segments[0] as Segment).path);
        this.segments.shift();
      }
    });
  }

  readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
    return this.onSnapChain(async () => {
      const cur = this.current;
      if (!cur) return null;
      const cached = this.loaded;
      this.loaded = null;
      if (cached && cached.meta === cur.meta) return cached;
      return parseSnapshot(await readFile(cur.path), cur.path);
    });
  }

  private async writeSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const path = join(this.dir, `snap-${meta.term}-${meta.index}.snap`);
    const tmp = `${path}.tmp`;
    const metaBuf = pack(meta);
    const head = Buffer.alloc(SNAP_HEADER);
    SNAP_MAGIC.copy(head, 0);
    head.writeUInt32LE(SNAP_VERSION, 8);
    head.writeUInt32LE(metaBuf.length, 12);
    putU64(head, 16, data.byteLength);
    head.writeUInt32LE(crc32(data, crc32(metaBuf, crc32(head.subarray(8, 24)))), 24);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await writeAll(fh, [head, metaBuf, data], 0);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await this.syncDir();
    if (!this.current || newestFirst(meta, this.current.meta) <= 0) {
      this.current = { meta, path };
      this.loaded = null;
    }
    const all = (await readdir(this.dir))
      .map((name) => ({ m: SNAP_RE.exec(name), name }))
      .filter((x): x is { m: RegExpExecArray; name: string } => x.m !== null)
      .map(({ m, name }) => ({ term: Number(m[1]), index: Number(m[2]), path: join(this.dir, name) }))
      .sort(newestFirst);
    for (const old of all.slice(2)) {
      if (old.path !== this.current.path) await rm(old.path, { force: true });
    }
  }

  private onSnapChain<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.snapChain.then(fn);
    this.snapChain = p.catch(() => undefined);
    return p;
  }

  // ------------------------------------------------------------------------------------------ compaction

  compact(upTo: number): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    // Only a prefix of segments, oldest first, each unlink made durable before the next: whatever a crash
    // leaves is then a suffix of the log, never one with a hole in the middle.
    return this.barrier(async () => {
      while (this.segments.length > 1 && (this.segments[0] as Segment).maxIndex <= upTo) {
        await this.removeInOrder((this.segments[0] as Segment).path);
        this.segments.shift();
      }
    });
  }

  async close(): Promise<void> {
    if (this.phase !== 'open') {
      this.phase = 'closed';
      return;
    }
    this.phase = 'closed';
    await this.barrier(async () => {
      const fh = this.fh;
      this.fh = null;
      await fh?.close();
    });
    await this.snapChain;
  }

  // ------------------------------------------------------------------------------------------ helpers

  private unusable(): Error | null {
    if (this.failed) return this.failed;
    if (this.phase === 'new') return new ConsulError(ErrorCode.Internal, 'raft storage: used before load()');
    if (this.phase === 'closed') return new ConsulError(ErrorCode.Internal, 'raft storage: closed');
    return null;
  }

  /** For work already queued: close() only stops new calls; what was queued before it still runs. */
  private writeBlocked(): Error | null {
    if (this.failed) return this.failed;
    if (!this.fh) return new ConsulError(ErrorCode.Internal, 'raft storage: closed');
    return null;
  }

  private async removeInOrder(path: string): Promise<void> {
    await rm(path, { force: true });
    await this.syncDir();
  }

  private async truncateFile(path: string, size: number): Promise<void> {
    const fh = await open(path, 'r+');
    try {
      await fh.truncate(size);
      if (this.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  private async syncDir(): Promise<void> {
    if (!this.fsync) return;
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
      this.stats.dirSyncs++;
    } finally {
      await d.close();
    }
  }
}

/** The log as replayed so far. Entries are always contiguous. */
class Replay {
  entries: Entry[] = [];
  hard: HardState = { ...emptyHardState };
  /** Index of the last reset (0 if none): with no entries after it, the log ends there. */
  resetBase = 0;
  resetAt: { path: string; off: number } | null = null;
  resetIn: Segment | null = null;
  resetPos = -1;
  /** Where entries[0] was read, for naming it in an error. */
  firstAt: { path: string; off: number } | null = null;

  lastIndex(): number | null {
    return this.entries.at(-1)?.index ?? (this.resetAt ? this.resetBase : null);
  }

  /** False on a gap. */
  addEntry(e: Entry, path: string, off: number): boolean {
    const prev = this.lastIndex();
    if (prev !== null && e.index !== prev + 1) {
      if (e.index > prev) return false;
      const first = this.entries[0]?.index;
      this.entries.length = first === undefined || e.index <= first ? 0 : e.index - first;
    }
    if (this.entries.length === 0) this.firstAt = { path, off };
    this.entries.push(e);
    return true;
  }

  reset(index: number, seg: Segment, off: number): void {
    this.entries = [];
    this.resetBase = index;
    this.resetAt = { path: seg.path, off };
    this.resetIn = seg;
  }
}

// -------------------------------------------------------------------------------------------- encoding

function putU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n % TWO_32, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

function getU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

function writeRecordHeader(buf: Buffer, off: number, type: number, payloadLen: number): void {
  buf.writeUInt32LE(payloadLen + 1, off);
  buf[off + 8] = type;
}

function sealRecord(buf: Buffer, off: number, payloadLen: number): void {
  buf.writeUInt32LE(crc32(buf.subarray(off + 8, off + REC_HEADER + payloadLen)), off + 4);
}

/** One buffer holding every record of one append() call. */
function encodeAppend(entries: readonly Entry[], hard: HardState | null): Buffer {
  let size = 0;
  for (const e of entries) size += REC_HEADER + ENTRY_FIXED + e.data.byteLength;
  const voteLen = hard ? Buffer.byteLength(hard.vote, 'utf8') : 0;
  if (hard) size += REC_HEADER + HARD_FIXED + voteLen;
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const e of entries) {
    const len = ENTRY_FIXED + e.data.byteLength;
    writeRecordHeader(buf, off, REC_ENTRY, len);
    const p = off + REC_HEADER;
    putU64(buf, p, e.index);
    putU64(buf, p + 8, e.term);
    buf[p + 16] = e.type;
    buf.set(e.data, p + ENTRY_FIXED);
    sealRecord(buf, off, len);
    off += REC_HEADER + len;
  }
  if (hard) {
    const len = HARD_FIXED + voteLen;
    writeRecordHeader(buf, off, REC_HARD, len);
    const p = off + REC_HEADER;
    putU64(buf, p, hard.term);
    putU64(buf, p + 8, hard.commit);
    buf.write(hard.vote, p + HARD_FIXED, voteLen, 'utf8');
    sealRecord(buf, off, len);
  }
  return buf;
}

type RecordRead = { type: number; start: number; end: number } | string;

function minPayload(type: number): number {
  return type === REC_ENTRY ? ENTRY_FIXED : type === REC_HARD ? HARD_FIXED : RESET_SIZE;
}

/** The record at `off`, or why it is not one. start..end is the payload. */
function readRecord(buf: Buffer, off: number): RecordRead {
  if (buf.length - off < REC_HEADER) return 'incomplete record header';
  const len = buf.readUInt32LE(off);
  if (len === 0) return 'zero record length';
  const end = off + 8 + len;
  if (end > buf.length) return `record length ${len} runs past the end of the file`;
  if (crc32(buf.subarray(off + 8, end)) !== buf.readUInt32LE(off + 4)) return 'checksum mismatch';
  const type = buf[off + 8] as number;
  if (type !== REC_ENTRY && type !== REC_HARD && type !== REC_RESET) return `unknown record type ${type}`;
  if (len - 1 < minPayload(type) || (type === REC_RESET && len - 1 !== RESET_SIZE)) {
    return `record of type ${type} too short`;
  }
  return { type, start: off + REC_HEADER, end };
}

/** The offset of the first well-formed record at or after `from`, or -1: what tells corruption from a torn
 * tail. Cheap checks first, so scanning a torn tail rarely computes a CRC. */
function findRecordAfter(buf: Buffer, from: number): number {
  for (let o = from; o + REC_HEADER <= buf.length; o++) {
    const type = buf[o + 8];
    if (type !== REC_ENTRY && type !== REC_HARD && type !== REC_RESET) continue;
    const len = buf.readUInt32LE(o);
    if (len - 1 < minPayload(type) || o + 8 + len > buf.length) continue;
    if (typeof readRecord(buf, o) !== 'string') return o;
  }
  return -1;
}

function decodeEntry(buf: Buffer, start: number, end: number): Entry {
  return {
    index: getU64(buf, start),
    term: getU64(buf, start + 8),
    type: buf[start + 16] as EntryType,
    // Copied so the segment's buffer can be released once the log is replayed.
    data: copyOut(buf, start + ENTRY_FIXED, end),
  };
}

/** A plain copy, so the segment's buffer can be released once the log is replayed. */
function copyOut(buf: Buffer, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(buf.subarray(start, end));
  return out;
}

function decodeHard(buf: Buffer, start: number, end: number): HardState {
  return {
    term: getU64(buf, start),
    commit: getU64(buf, start + 8),
    vote: buf.toString('utf8', start + HARD_FIXED, end),
  };
}

async function writeAll(
  fh: FileHandle,
  bufs: readonly Uint8Array[],
  pos: number,
): Promise<{ written: number; calls: number }> {
  let rest = bufs;
  let written = 0;
  let calls = 0;
  while (rest.length > 0) {
    const one = rest.length === 1 ? (rest[0] as Uint8Array) : null;
    const { bytesWritten } = one
      ? await fh.write(one, 0, one.byteLength, pos + written)
      : await fh.writev(rest, pos + written);
    calls++;
    if (bytesWritten === 0 && rest.some((b) => b.byteLength > 0)) throw new Error('write made no progress');
    written += bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
  return { written, calls };
}

function dropBytes(bufs: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (n >= b.byteLength) {
      n -= b.byteLength;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

function parseSnapshot(buf: Buffer, path: string): { meta: SnapshotMeta; data: Uint8Array } {
  if (buf.length < SNAP_HEADER || !buf.subarray(0, 8).equals(SNAP_MAGIC)) {
    throw corrupt(path, 0, 'not a snapshot file (bad magic or truncated header)');
  }
  const version = buf.readUInt32LE(8);
  if (version !== SNAP_VERSION) throw corrupt(path, 8, `unsupported snapshot version ${version}`);
  const metaLen = buf.readUInt32LE(12);
  const dataLen = getU64(buf, 16);
  if (SNAP_HEADER + metaLen + dataLen !== buf.length) {
    throw corrupt(path, 12, `file is ${buf.length} bytes, header says ${SNAP_HEADER + metaLen + dataLen}`);
  }
  const crc = crc32(buf.subarray(SNAP_HEADER), crc32(buf.subarray(8, 24)));
  if (crc !== buf.readUInt32LE(24)) throw corrupt(path, 24, 'checksum mismatch');
  let meta: Partial<SnapshotMeta> | null;
  try {
    meta = unpack(buf.subarray(SNAP_HEADER, SNAP_HEADER + metaLen)) as Partial<SnapshotMeta> | null;
  } catch {
    throw corrupt(path, SNAP_HEADER, 'undecodable metadata');
  }
  if (
    typeof meta?.index !== 'number' ||
    typeof meta.term !== 'number' ||
    !Array.isArray(meta.config?.servers)
  ) {
    throw corrupt(path, SNAP_HEADER, 'malformed metadata');
  }
  return { meta: meta as SnapshotMeta, data: buf.subarray(SNAP_HEADER + metaLen) };
}

/** Sort order for snapshots: higher index first, then higher term. */
function newestFirst(a: { index: number; term: number }, b: { index: number; term: number }): number {
  return b.index - a.index || b.term - a.term;
}

/** Remembers where and why, so a caller can extend the explanation. */
class CorruptError extends ConsulError {
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly why: string,
  ) {
    super(
      ErrorCode.Corrupt,
      `raft storage corrupt: ${path} at offset ${offset}: ${why} (refusing to start: acknowledged writes ` +
        'could be lost; move the raft data directory away so this server is rebuilt from the others)',
    );
  }
}

function corrupt(path: string, offset: number, why: string): CorruptError {
  return new CorruptError(path, offset, why);
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
