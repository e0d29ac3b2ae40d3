import { randomInt } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { seededRng } from '../../src/core/rng.js';
import { FileStorage } from '../../src/raft/storage/file.js';
import { MemoryStorage } from '../../src/raft/storage/memory.js';
import type { RaftStorage } from '../../src/raft/storage/storage.js';
import {
  emptyHardState,
  EntryType,
  type Entry,
  type HardState,
  type SnapshotMeta,
} from '../../src/raft/types.js';

/** Every storage a test opens is closed after it, so no file handle is left to the garbage collector. */
const opened: FileStorage[] = [];
class TrackedStorage extends FileStorage {
  constructor(...args: ConstructorParameters<typeof FileStorage>) {
    super(...args);
    opened.push(this);
  }
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
});

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'consulate-raft-storage-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const enc = new TextEncoder();
const dec = new TextDecoder();
function entry(index: number, term = 1, text = `cmd-${index}`): Entry {
  return { index, term, type: EntryType.Command, data: enc.encode(text) };
}
const range = (from: number, to: number, term = 1): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const meta = (index: number, term = 1): SnapshotMeta => ({
  index,
  term,
  config: { servers: [{ id: 'a', address: '127.0.0.1:8300', voter: true }] },
});
const ids = (es: Entry[]): [number, number][] => es.map((e) => [e.index, e.term]);
const walFiles = (d: string): string[] =>
  readdirSync(d)
    .filter((n) => /^wal-\d{20}\.log$/.test(n))
    .sort();
const snapFiles = (d: string): string[] =>
  readdirSync(d)
    .filter((n) => n.endsWith('.snap'))
    .sort();

async function expectCorrupt(p: Promise<unknown>, file: string): Promise<ConsulError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConsulError);
  expect((err as ConsulError).code).toBe(ErrorCode.Corrupt);
  expect((err as ConsulError).message).toContain(file);
  return err as ConsulError;
}

/** A place storage lives across "restarts": reopen() gives a fresh handle on the same data. */
interface Harness {
  reopen(): RaftStorage;
}

function semantics(name: string, make: () => Harness): void {
  describe(`${name}: storage semantics`, () => {
    it('starts empty', async () => {
      const s = make().reopen();
      expect(await s.load()).toEqual({ hardState: emptyHardState, snapshot: null, entries: [] });
      expect(await s.readSnapshot()).toBeNull();
      await s.close();
    });

    it('round-trips entries of every type, empty and large data, and the hard state', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
      const written: Entry[] = [
        { index: 1, term: 1, type: EntryType.Noop, data: new Uint8Array(0) },
        { index: 2, term: 1, type: EntryType.Config, data: enc.encode('{"servers":[]}') },
        { index: 3, term: 2 ** 40, type: EntryType.Command, data: big },
      ];
      await s.append(written, { term: 2 ** 40, vote: 'node-ü', commit: 2 });
      await s.close();
      const r = await h.reopen().load();
      // Compared field by field: a deep toEqual over 200 kB is needlessly slow.
      expect(r.entries.map(({ index, term, type }) => ({ index, term, type }))).toEqual(
        written.map(({ index, term, type }) => ({ index, term, type })),
      );
      r.entries.forEach((e, i) => expect(Buffer.from(e.data).equals((written[i] as Entry).data)).toBe(true));
      expect(r.hardState).toEqual({ term: 2 ** 40, vote: 'node-ü', commit: 2 });
    });

    it('keeps the last hard state written, with or without entries', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      await s.append([entry(1)], { term: 1, vote: 'a', commit: 0 });
      await s.append([], { term: 2, vote: 'b', commit: 1 });
      await s.append([entry(2, 2)], null);
      await s.append([entry(3, 2)], { term: 3, vote: '', commit: 2 });
      await s.close();
      const s2 = h.reopen();
      expect((await s2.load()).hardState).toEqual({ term: 3, vote: '', commit: 2 });
      await s2.append([], { term: 4, vote: 'c', commit: 3 });
      await s2.close();
      expect((await h.reopen().load()).hardState).toEqual({ term: 4, vote: 'c', commit: 3 });
    });

    it('truncates a conflicting suffix, and the truncation survives reopening', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      await s.append(range(1, 6), null);
      await s.append([entry(4, 2, 'new-4')], null);
      await s.close();
      const s2 = h.reopen();
      expect(ids((await s2.load()).entries)).toEqual([
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 2],
      ]);
      // A second overwrite, reaching below what the first one wrote, after a restart.
      await s2.append([entry(2, 3, 'new-2'), entry(3, 3)], null);
      await s2.close();
      const r = await h.reopen().load();
      expect(ids(r.entries)).toEqual([
        [1, 1],
        [2, 3],
        [3, 3],
      ]);
      expect(dec.decode(r.entries[1]?.data)).toBe('new-2');
    });

    it('preserves call order for appends that are not awaited', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      await Promise.all([
        s.append(range(1, 5), { term: 1, vote: 'a', commit: 0 }),
        s.append([entry(3, 2), entry(4, 2)], { term: 2, vote: 'b', commit: 1 }),
        s.append([entry(5, 2)], null),
        s.append([], { term: 2, vote: 'b', commit: 4 }),
      ]);
      await s.close();
      const r = await h.reopen().load();
      expect(ids(r.entries)).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
        [4, 2],
        [5, 2],
      ]);
      expect(r.hardState).toEqual({ term: 2, vote: 'b', commit: 4 });
    });

    it('refuses appends that would leave a gap', async () => {
      const s = make().reopen();
      await s.load();
      await expect(s.append([entry(2)], null)).rejects.toBeInstanceOf(ConsulError);
      await s.append([entry(1)], null);
      await expect(s.append([entry(2), entry(4)], null)).rejects.toBeInstanceOf(ConsulError);
      await expect(s.append([entry(3)], null)).rejects.toBeInstanceOf(ConsulError);
      await s.append([entry(2)], null);
      await s.close();
    });

    it('saves and reads snapshots; load drops entries the snapshot covers', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      await s.append(range(1, 10), { term: 1, vote: '', commit: 10 });
      await s.saveSnapshot(meta(4), enc.encode('state@4'));
      await s.saveSnapshot(meta(7), enc.encode('state@7'));
      const snap = await s.readSnapshot();
      expect(snap?.meta).toEqual(meta(7));
      expect(dec.decode(snap?.data)).toBe('state@7');
      await s.close();
      const s2 = h.reopen();
      const r = await s2.load();
      expect(r.snapshot).toEqual(meta(7));
      expect(r.entries.map((e) => e.index)).toEqual([8, 9, 10]);
      expect(dec.decode((await s2.readSnapshot())?.data)).toBe('state@7');
      await s2.close();
    });

    it('compacts without losing entries after the compaction point or the hard state', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      await s.append([], { term: 5, vote: 'x', commit: 0 });
      for (let i = 1; i <= 60; i++) await s.append([entry(i, 5)], null);
      await s.saveSnapshot(meta(50, 5), enc.encode('s'));
      await s.compact(40);
      await s.append([entry(61, 5)], { term: 5, vote: 'x', commit: 55 });
      await s.compact(50);
      await s.close();
      const r = await h.reopen().load();
      expect(r.hardState).toEqual({ term: 5, vote: 'x', commit: 55 });
      expect(r.snapshot?.index).toBe(50);
      expect(r.entries.map((e) => e.index)).toEqual(range(51, 61).map((e) => e.index));
    });

    it('installs a leader snapshot: the log is discarded and continues after it', async () => {
      const h = make();
      const s = h.reopen();
      await s.load();
      await s.append(range(1, 30), { term: 1, vote: '', commit: 5 });
      await s.saveSnapshot(meta(5), enc.encode('state@5'));
      await s.installSnapshot(meta(20, 3), enc.encode('state@20'));
      expect(dec.decode((await s.readSnapshot())?.data)).toBe('state@20');
      await expect(s.append([entry(22, 3)], null)).rejects.toBeInstanceOf(ConsulError);
      await s.append([entry(21, 3), entry(22, 3)], { term: 3, vote: '', commit: 21 });
      await s.close();
      const s2 = h.reopen();
      const r = await s2.load();
      expect(r.snapshot).toEqual(meta(20, 3));
      expect(ids(r.entries)).toEqual([
        [21, 3],
        [22, 3],
      ]);
      expect(r.hardState.commit).toBe(21);
      await s2.close();
      // Installed with nothing after it: the log is empty, and the snapshot alone is the state.
      const s3 = h.reopen();
      await s3.load();
      await s3.installSnapshot(meta(40, 4), enc.encode('state@40'));
      await s3.close();
      const r3 = await h.reopen().load();
      expect(r3.snapshot?.index).toBe(40);
      expect(r3.entries).toEqual([]);
    });

    it('refuses use before load and after close', async () => {
      const s = make().reopen();
      await expect(s.append([entry(1)], null)).rejects.toBeInstanceOf(ConsulError);
      await s.load();
      await s.close();
      await expect(s.append([entry(1)], null)).rejects.toBeInstanceOf(ConsulError);
    });
  });
}

semantics('MemoryStorage', () => {
  const m = new MemoryStorage();
  return { reopen: () => m };
});
semantics('FileStorage', () => {
  const d = tmp();
  return { reopen: () => new TrackedStorage(d, { segmentBytes: 1024 }) };
});

/** Appends one entry per call, recording the file size (= record boundary) after each. */
async function writeLog(
  d: string,
  n: number,
  hard: HardState = { term: 1, vote: 'a', commit: 0 },
): Promise<{ file: string; ends: number[]; entries: Entry[] }> {
  const s = new TrackedStorage(d, { fsync: false });
  await s.load();
  await s.append([], hard);
  const [name] = walFiles(d);
  const file = join(d, name as string);
  const ends = [statSync(file).size];
  const entries: Entry[] = [];
  for (let i = 1; i <= n; i++) {
    const e = entry(i, 1, `value-${i}-${'x'.repeat((i * 7) % 23)}`);
    entries.push(e);
    await s.append([e], null);
    ends.push(statSync(file).size);
  }
  await s.close();
  return { file, ends, entries };
}

describe('FileStorage: group commit', () => {
  it('writes 64 entries of 300 bytes with one write and one fdatasync', async () => {
    const s = new TrackedStorage(tmp());
    await s.load();
    const before = { ...s.stats };
    const payload = new Uint8Array(300).fill(7);
    await s.append(
      Array.from({ length: 64 }, (_, i) => ({
        index: i + 1,
        term: 1,
        type: EntryType.Command,
        data: payload,
      })),
      { term: 1, vote: 'a', commit: 0 },
    );
    expect(s.stats.writes - before.writes).toBe(1);
    expect(s.stats.fsyncs - before.fsyncs).toBe(1);
    await s.close();
  });

  it('coalesces 200 unawaited appends into a few fdatasyncs, each resolving in order', async () => {
    const d = tmp();
    const s = new TrackedStorage(d);
    await s.load();
    const before = s.stats.fsyncs;
    const resolved: number[] = [];
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => s.append([entry(i + 1)], null).then(() => resolved.push(i + 1))),
    );
    const used = s.stats.fsyncs - before;
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(5);
    expect(resolved).toEqual(range(1, 200).map((e) => e.index));
    await s.close();
    expect((await new TrackedStorage(d).load()).entries.length).toBe(200);
  });

  it('coalesces appends that arrive while a write is in flight', async () => {
    const d = tmp();
    const s = new TrackedStorage(d);
    await s.load();
    const before = s.stats.fsyncs;
    let next = 1;
    // 32 writers, each appending as soon as its previous append is durable.
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let k = 0; k < 10; k++) await s.append([entry(next++)], null);
      }),
    );
    expect(s.stats.fsyncs - before).toBeLessThan(320 / 4);
    await s.close();
    expect((await new TrackedStorage(d).load()).entries.length).toBe(320);
  });

  it('refuses every later append once a write has failed', async () => {
    const s = new TrackedStorage(tmp());
    await s.load();
    await s.append([entry(1)], null);
    // Pull the file out from under it, as a failing disk would.
    await (s as unknown as { fh: FileHandle }).fh.close();
    const first = await s.append([entry(2)], null).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Error);
    await expect(s.append([entry(3)], null)).rejects.toBe(first);
  });
});

describe('FileStorage: files on disk', () => {
  it('rolls segments over and compaction deletes old ones, keeping the hard state', async () => {
    const d = tmp();
    const s = new TrackedStorage(d, { segmentBytes: 256 });
    await s.load();
    await s.append([], { term: 7, vote: 'x', commit: 0 });
    for (let i = 1; i <= 60; i++) await s.append([entry(i, 7)], null);
    const before = walFiles(d);
    expect(before.length).toBeGreaterThan(5);
    await s.saveSnapshot(meta(45, 7), enc.encode('s'));
    await s.compact(45);
    const after = walFiles(d);
    expect(after.length).toBeLessThan(before.length - 3);
    expect(after.at(-1)).toBe(before.at(-1)); // the current segment stays
    await s.close();
    const s2 = new TrackedStorage(d, { segmentBytes: 256 });
    const r = await s2.load();
    expect(r.hardState).toEqual({ term: 7, vote: 'x', commit: 0 });
    expect(r.entries.map((e) => e.index)).toEqual(range(46, 60).map((e) => e.index));
    // Compacting everything still leaves a segment holding the hard state.
    await s2.saveSnapshot(meta(60, 7), enc.encode('s'));
    await s2.compact(1000);
    await s2.close();
    expect(walFiles(d).length).toBeGreaterThanOrEqual(1);
    expect((await new TrackedStorage(d).load()).hardState.term).toBe(7);
  });

  it('never compacts a segment whose entries a later overwrite still depends on', async () => {
    const d = tmp();
    const s = new TrackedStorage(d, { segmentBytes: 200 });
    await s.load();
    for (let i = 1; i <= 12; i++) await s.append([entry(i, 1)], null);
    // Overwrite from 5 on in term 2: later segments now hold indexes below the earlier ones.
    for (let i = 5; i <= 14; i++) await s.append([entry(i, 2)], null);
    await s.saveSnapshot(meta(8, 2), enc.encode('s'));
    await s.compact(8);
    await s.close();
    const r = await new TrackedStorage(d).load();
    expect(ids(r.entries)).toEqual(range(9, 14, 2).map((e): [number, number] => [e.index, 2]));
  });

  it('keeps only the two newest snapshots', async () => {
    const d = tmp();
    const s = new TrackedStorage(d);
    await s.load();
    await s.append(range(1, 9), null);
    for (const i of [3, 6, 9]) await s.saveSnapshot(meta(i), enc.encode(`at ${i}`));
    expect(snapFiles(d)).toEqual(['snap-1-6.snap', 'snap-1-9.snap']);
    await s.installSnapshot(meta(12, 2), enc.encode('at 12'));
    expect(snapFiles(d)).toEqual(['snap-1-9.snap', 'snap-2-12.snap']);
    await s.close();
  });

  it('removes leftover temp files at load', async () => {
    const d = tmp();
    writeFileSync(join(d, 'snap-1-5.snap.tmp'), 'half a snapshot');
    const s = new TrackedStorage(d);
    expect((await s.load()).snapshot).toBeNull();
    await s.close();
    expect(readdirSync(d).some((n) => n.endsWith('.tmp'))).toBe(false);
  });

  it('ignores old segments an install did not get to delete before a crash', async () => {
    const d = tmp();
    const s = new TrackedStorage(d, { segmentBytes: 200 });
    await s.load();
    await s.append(range(1, 20), { term: 1, vote: 'a', commit: 3 });
    for (let i = 21; i <= 30; i++) await s.append([entry(i)], null);
    const old = walFiles(d);
    const saved = tmp();
    for (const n of old) copyFileSync(join(d, n), join(saved, n));
    await s.installSnapshot(meta(100, 4), enc.encode('leader'));
    await s.append([entry(101, 4)], { term: 4, vote: '', commit: 101 });
    await s.close();
    for (const n of old) copyFileSync(join(saved, n), join(d, n)); // the unlinks never reached the disk
    const s2 = new TrackedStorage(d);
    const r = await s2.load();
    expect(r.snapshot?.index).toBe(100);
    expect(ids(r.entries)).toEqual([[101, 4]]);
    expect(r.hardState).toEqual({ term: 4, vote: '', commit: 101 });
    await s2.close();
    expect(walFiles(d).some((n) => old.includes(n))).toBe(false);
  });

  it('repairs a crash during segment creation', async () => {
    const d = tmp();
    const { entries } = await writeLog(d, 5);
    writeFileSync(join(d, 'wal-00000000000000000099.log'), 'CSLT');
    const s = new TrackedStorage(d);
    expect((await s.load()).entries).toEqual(entries);
    await s.close();
    expect(existsSync(join(d, 'wal-00000000000000000099.log'))).toBe(false);
  });
});

describe('FileStorage: torn writes and corruption', () => {
  it('cuts a torn tail back to the last whole record, at every cut point in the last three records', async () => {
    const d = tmp();
    const { file, ends, entries } = await writeLog(d, 10);
    const whole = readFileSync(file);
    const from = ends[ends.length - 4] as number;
    for (let cut = from; cut < whole.length; cut++) {
      writeFileSync(file, whole.subarray(0, cut));
      const s = new TrackedStorage(d, { fsync: false });
      const r = await s.load();
      await s.close();
      // ends[k] is where entry k ends (ends[0]: the hard state), so the whole entries are those with ends <= cut.
      const kept = ends.filter((e, k) => k > 0 && e <= cut).length;
      expect(r.entries, `cut at ${cut}`).toEqual(entries.slice(0, kept));
      expect(r.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
      expect(statSync(file).size, `cut at ${cut}`).toBe(ends[kept]);
    }
  });

  it('refuses to start when the first record of a 10-record log is damaged, naming the file', async () => {
    const d = tmp();
    const { file, ends } = await writeLog(d, 10);
    const b = readFileSync(file);
    const at = (ends[0] as number) + 12; // inside entry 1's payload
    b[at] = (b[at] as number) ^ 0x40;
    writeFileSync(file, b);
    const err = await expectCorrupt(new TrackedStorage(d).load(), file);
    expect(err.message).toContain(`offset ${ends[0]}`);
    expect(readFileSync(file).equals(b)).toBe(true); // nothing "repaired"
  });

  it('refuses a bad record in a segment that is not the last', async () => {
    const d = tmp();
    const s = new TrackedStorage(d, { segmentBytes: 150, fsync: false });
    await s.load();
    for (let i = 1; i <= 20; i++) await s.append([entry(i)], null);
    await s.close();
    const first = join(d, walFiles(d)[0] as string);
    const b = readFileSync(first);
    b[b.length - 1] = (b[b.length - 1] as number) ^ 1; // its very last byte: a "tail", but not the log's
    writeFileSync(first, b);
    await expectCorrupt(new TrackedStorage(d).load(), first);
  });

  it('refuses a log with a missing segment in the middle', async () => {
    const d = tmp();
    const s = new TrackedStorage(d, { segmentBytes: 150, fsync: false });
    await s.load();
    for (let i = 1; i <= 20; i++) await s.append([entry(i)], null);
    await s.close();
    const segs = walFiles(d);
    expect(segs.length).toBeGreaterThan(3);
    rmSync(join(d, segs[1] as string));
    await expectCorrupt(new TrackedStorage(d).load(), segs[2] as string);
  });

  it('falls back past a damaged newest snapshot only if the log covers the gap', async () => {
    const d = tmp();
    const s = new TrackedStorage(d);
    await s.load();
    await s.append(range(1, 30), { term: 1, vote: '', commit: 30 });
    await s.saveSnapshot(meta(10), enc.encode('at 10'));
    await s.saveSnapshot(meta(20), enc.encode('at 20'));
    await s.close();
    const newest = join(d, 'snap-1-20.snap');
    const b = readFileSync(newest);
    b[b.length - 2] = (b[b.length - 2] as number) ^ 4;
    writeFileSync(newest, b);
    const s2 = new TrackedStorage(d);
    const r = await s2.load();
    expect(r.snapshot?.index).toBe(10);
    expect(r.entries.map((e) => e.index)).toEqual(range(11, 30).map((e) => e.index));
    expect(dec.decode((await s2.readSnapshot())?.data)).toBe('at 10');
    await s2.close();
    expect(existsSync(`${newest}.corrupt`)).toBe(true);

    // Now with the log compacted past the older snapshot: nothing to fall back on.
    const d2 = tmp();
    const s3 = new TrackedStorage(d2, { segmentBytes: 150 });
    await s3.load();
    for (let i = 1; i <= 30; i++) await s3.append([entry(i)], null);
    await s3.saveSnapshot(meta(10), enc.encode('at 10'));
    await s3.saveSnapshot(meta(25), enc.encode('at 25'));
    await s3.compact(25);
    await s3.close();
    const n2 = join(d2, 'snap-1-25.snap');
    const b2 = readFileSync(n2);
    b2[40] = (b2[40] as number) ^ 1;
    writeFileSync(n2, b2);
    await expectCorrupt(new TrackedStorage(d2).load(), n2);
    expect(existsSync(n2)).toBe(true);
  });

  it('refuses a damaged only snapshot when the log starts after index 1', async () => {
    const d = tmp();
    const s = new TrackedStorage(d, { segmentBytes: 150 });
    await s.load();
    for (let i = 1; i <= 30; i++) await s.append([entry(i)], null);
    await s.saveSnapshot(meta(20), enc.encode('at 20'));
    await s.compact(20);
    await s.close();
    const snap = join(d, 'snap-1-20.snap');
    writeFileSync(snap, readFileSync(snap).subarray(0, 30)); // truncated
    await expectCorrupt(new TrackedStorage(d).load(), snap);
  });

  it('never returns altered data under 10,000 random bit flips', async () => {
    const seed = Number(process.env['RAFT_STORAGE_SEED'] ?? randomInt(2 ** 31));
    const rng = seededRng(seed);
    const d = tmp();
    const hard = { term: 3, vote: 'b', commit: 2 };
    const { file, entries } = await writeLog(d, 6, hard);
    const orig = readFileSync(file);
    const buf = Buffer.alloc(orig.length);
    let refused = 0;
    let lostLast = 0;
    for (let i = 0; i < 10_000; i++) {
      orig.copy(buf);
      const bit = rng.int(buf.length * 8);
      buf[bit >> 3] = (buf[bit >> 3] as number) ^ (1 << (bit & 7));
      writeFileSync(file, buf);
      const why = `seed ${seed} (rerun with RAFT_STORAGE_SEED=${seed}), flip ${i} at bit ${bit}`;
      const s = new TrackedStorage(d, { fsync: false });
      let r;
      try {
        r = await s.load();
      } catch (err) {
        expect(err, why).toBeInstanceOf(ConsulError);
        expect((err as ConsulError).code, why).toBe(ErrorCode.Corrupt);
        expect((err as ConsulError).message, why).toContain(file);
        refused++;
        continue;
      }
      await s.close();
      // A flip in the last record looks exactly like a torn write: that record may go, nothing else.
      expect(r.entries.length, why).toBeGreaterThanOrEqual(entries.length - 1);
      expect(r.entries, why).toEqual(entries.slice(0, r.entries.length));
      expect(r.hardState, why).toEqual(hard);
      if (r.entries.length < entries.length) lostLast++;
    }
    expect(refused).toBeGreaterThan(0);
    expect(lostLast).toBeGreaterThan(0);
  }, 60_000);
});
