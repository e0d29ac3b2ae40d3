// Snapshot archives: Consul's layout (a gzipped tar of meta.json, state.bin, SHA256SUMS) that the
// system's tar reads and that is read back from what the system's tar writes; every kind of damage
// refused with a message naming it (not gzip, truncated, a flipped byte, a wrong checksum, a file
// missing or extra, metadata that lies, state that does not decode); and the state's indexes,
// which never move backwards when a snapshot with higher ones is restored through the FSM.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readArchive, writeArchive, type SnapshotMeta } from '../../src/snapshot/archive.js';
import { byteSize, snapshotArchive, stateStats, verifySnapshot } from '../../src/snapshot/state.js';
import { readTar, writeTar } from '../../src/snapshot/tar.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { encodeState, Fsm } from '../../src/state/fsm.js';
import type { KVEntry } from '../../src/state/types.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function metaFor(state: Uint8Array, over: Partial<SnapshotMeta> = {}): SnapshotMeta {
  return {
    Version: 1,
    ID: '2-7-1700000000000',
    Index: 7,
    Term: 2,
    Configuration: { Servers: [{ Suffrage: 0, ID: 'a', Address: '127.0.0.1:8300' }] },
    ConfigurationIndex: 1,
    Size: state.byteLength,
    ...over,
  };
}

/** An archive put together by hand, so each part can be made wrong on its own. */
function handMade(files: { name: string; data: Uint8Array }[]): Uint8Array {
  return gzipSync(writeTar(files, new Date(1_700_000_000_000)));
}

function parts(state: Uint8Array, meta = metaFor(state)): { meta: Uint8Array; state: Uint8Array } {
  return { meta: bytes(JSON.stringify(meta)), state };
}

function sums(files: Record<string, Uint8Array>): Uint8Array {
  return bytes(
    Object.entries(files)
      .map(([n, d]) => `${sha(d)}  ${n}\n`)
      .join(''),
  );
}

/** A store with something in each table the stats count. */
function populated(): Fsm {
  const fsm = new Fsm('dc1');
  const cmds: FsmCommand[] = [
    { type: 'kvSet', key: 'app/a', value: bytes('one'), flags: 3 },
    { type: 'kvSet', key: 'app/b', value: null, flags: 0 },
    { type: 'kvSet', key: 'gone', value: bytes('x'), flags: 0 },
    { type: 'kvDelete', key: 'gone' },
    {
      type: 'register',
      req: {
        Node: 'n1',
        Address: '10.0.0.1',
        Service: { ID: 'web1', Service: 'web', Port: 80 },
        Check: { CheckID: 'c1', Name: 'c1', Status: 'passing', ServiceID: 'web1' },
      } as never,
    },
  ];
  cmds.forEach((c, i) => {
    const r = fsm.apply(i + 1, encodeCommand(c));
    if (r instanceof Error) throw r;
  });
  return fsm;
}

const raftView = {
  term: 3,
  servers: [{ id: 's1', address: '127.0.0.1:8300', voter: true }],
  configurationIndex: 1,
};

describe('the archive', () => {
  it('round-trips the metadata and the state, with SHA256SUMS in sha256sum format', async () => {
    const fsm = populated();
    const archive = await snapshotArchive(fsm.store, raftView, new Date(1_700_000_000_123));
    const snap = await readArchive(archive);
    expect(snap.meta).toEqual({
      Version: 1,
      ID: `3-${fsm.store.lastIndex}-1700000000123`,
      Index: fsm.store.lastIndex,
      Term: 3,
      Configuration: { Servers: [{ Suffrage: 0, ID: 's1', Address: '127.0.0.1:8300' }] },
      ConfigurationIndex: 1,
      Size: snap.state.byteLength,
    });
    expect(Buffer.from(snap.state)).toEqual(Buffer.from(fsm.snapshot()));
    const files = readTar(gunzipSync(archive));
    expect(files.map((f) => f.name)).toEqual(['meta.json', 'state.bin', 'SHA256SUMS']);
    expect(new TextDecoder().decode(files[2]?.data)).toBe(
      `${sha(files[0]!.data)}  meta.json\n${sha(files[1]!.data)}  state.bin\n`,
    );
  });

  it("is a tar the system's tar lists and extracts, and the system's tar writes one we read", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snapshot-tar-'));
    const state = populated().snapshot();
    const archive = await writeArchive({ meta: metaFor(state), state });
    writeFileSync(join(dir, 'ours.tgz'), archive);
    const listing = execFileSync('tar', ['-tzf', join(dir, 'ours.tgz')], { encoding: 'utf8' });
    expect(listing.trim().split('\n')).toEqual(['meta.json', 'state.bin', 'SHA256SUMS']);
    execFileSync('tar', ['-xzf', join(dir, 'ours.tgz'), '-C', dir]);
    expect(Buffer.from(readFileSync(join(dir, 'state.bin')))).toEqual(Buffer.from(state));
    expect(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'))).toEqual(metaFor(state));

    // The same three files, archived by tar itself (in another order), read back and verified.
    execFileSync('tar', ['-czf', join(dir, 'theirs.tgz'), '-C', dir, 'SHA256SUMS', 'state.bin', 'meta.json']);
    const theirs = await verifySnapshot(readFileSync(join(dir, 'theirs.tgz')));
    expect(theirs.meta.Index).toBe(7);
    expect(theirs.data.kv.keys).toEqual(['app/a', 'app/b']);
  });

  it('counts each kind of record for inspect, and sizes as Consul prints them', async () => {
    const snap = await verifySnapshot(await snapshotArchive(populated().store, raftView));
    const stats = Object.fromEntries(stateStats(snap.data).map((s) => [s.Name, s.Count]));
    // n1, web1, c1 (one node, one service, one check); two live keys; the deleted one's tombstone.
    expect(stats).toEqual({ Register: 3, KVS: 2, Tombstone: 1 });
    for (const s of stateStats(snap.data)) expect(s.Sum).toBeGreaterThan(0);
    expect([0, 5, 1024, 1536, 3 * 2 ** 20, 2 ** 30].map(byteSize)).toEqual([
      '0',
      '5B',
      '1KB',
      '1.5KB',
      '3MB',
      '1GB',
    ]);
  });
});

describe('a damaged archive is refused, saying why', () => {
  const state = populated().snapshot();
  let good: Uint8Array = new Uint8Array(0);
  beforeAll(async () => {
    good = await writeArchive({ meta: metaFor(state), state });
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['not gzip at all', () => bytes('{"this": "is json"}'), /^failed to decompress snapshot: /],
    ['empty', () => new Uint8Array(0), /^failed to decompress snapshot: /],
    [
      'truncated',
      () => good.subarray(0, Math.floor(good.byteLength / 2)),
      /^failed to decompress snapshot: /,
    ],
    [
      'a flipped byte in the compressed stream',
      () => {
        const b = Uint8Array.from(good);
        b[Math.floor(b.byteLength / 2)]! ^= 0xff;
        return b;
      },
      /^failed to decompress snapshot: /,
    ],
    [
      'a flipped byte in state.bin (gzip itself intact)',
      () => {
        const tar = Uint8Array.from(gunzipSync(good));
        tar[512 * 3 + 10]! ^= 0x01; // inside state.bin: meta.json's header and block, then its header
        return gzipSync(tar);
      },
      /^failed checking integrity of snapshot: hash check failed for "state.bin"$/,
    ],
    [
      'a wrong checksum in SHA256SUMS',
      () => {
        const p = parts(state);
        const list = sums({ 'meta.json': p.meta, 'state.bin': bytes('something else') });
        return handMade([
          { name: 'meta.json', data: p.meta },
          { name: 'state.bin', data: p.state },
          { name: 'SHA256SUMS', data: list },
        ]);
      },
      /hash check failed for "state.bin"/,
    ],
    [
      'no SHA256SUMS',
      () => {
        const p = parts(state);
        return handMade([
          { name: 'meta.json', data: p.meta },
          { name: 'state.bin', data: p.state },
        ]);
      },
      /^failed checking integrity of snapshot: SHA256SUMS is missing$/,
    ],
    [
      'no state.bin',
      () => {
        const p = parts(state);
        return handMade([
          { name: 'meta.json', data: p.meta },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': p.meta }) },
        ]);
      },
      /file missing for "state.bin"/,
    ],
    [
      'a file that does not belong',
      () => {
        const p = parts(state);
        return handMade([
          { name: 'meta.json', data: p.meta },
          { name: 'state.bin', data: p.state },
          { name: 'evil.sh', data: bytes('rm -rf /') },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': p.meta, 'state.bin': p.state }) },
        ]);
      },
      /unexpected file "evil.sh" in snapshot/,
    ],
    [
      'a tar header whose checksum does not match',
      () => {
        const tar = Uint8Array.from(gunzipSync(good));
        tar[5]! ^= 0x01; // in meta.json's name
        return gzipSync(tar);
      },
      /checksum mismatch/,
    ],
    [
      'metadata that is not JSON',
      () => {
        const meta = bytes('{not json');
        return handMade([
          { name: 'meta.json', data: meta },
          { name: 'state.bin', data: state },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': meta, 'state.bin': state }) },
        ]);
      },
      /^failed to decode snapshot metadata: /,
    ],
    [
      'metadata whose Size is not the state’s',
      () => {
        const meta = bytes(JSON.stringify(metaFor(state, { Size: state.byteLength + 1 })));
        return handMade([
          { name: 'meta.json', data: meta },
          { name: 'state.bin', data: state },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': meta, 'state.bin': state }) },
        ]);
      },
      /state.bin holds \d+ bytes, its metadata says \d+/,
    ],
    [
      'another version',
      () => {
        const meta = bytes(JSON.stringify(metaFor(state, { Version: 9 })));
        return handMade([
          { name: 'meta.json', data: meta },
          { name: 'state.bin', data: state },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': meta, 'state.bin': state }) },
        ]);
      },
      /unsupported version 9/,
    ],
    [
      'a state that is not msgpack',
      () => {
        const junk = Uint8Array.from([0xc1, 0xc1, 0xc1]);
        const meta = bytes(JSON.stringify(metaFor(junk)));
        return handMade([
          { name: 'meta.json', data: meta },
          { name: 'state.bin', data: junk },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': meta, 'state.bin': junk }) },
        ]);
      },
      /^failed to decode snapshot state: /,
    ],
    [
      'a state that decodes but is not a state store',
      () => {
        const other = encodeState({ version: 2 } as never);
        const meta = bytes(JSON.stringify(metaFor(other)));
        return handMade([
          { name: 'meta.json', data: meta },
          { name: 'state.bin', data: other },
          { name: 'SHA256SUMS', data: sums({ 'meta.json': meta, 'state.bin': other }) },
        ]);
      },
      /^failed to decode snapshot state: snapshot: not a version 1 state store snapshot$/,
    ],
  ];

  it.each(cases)('%s', async (_what, make, message) => {
    let err: unknown;
    try {
      await verifySnapshot(make());
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'BadRequest' });
    expect((err as Error).message).toMatch(message);
  });

  it('accepts the undamaged one', async () => {
    expect((await verifySnapshot(good)).meta.Size).toBe(state.byteLength);
  });
});

describe('restoring through the FSM', () => {
  const kv = (fsm: Fsm, key: string): KVEntry | null => fsm.store.kvGet(key).value;

  it('replaces the state, and indexes carry on after the highest the snapshot holds', () => {
    // The source: 60 writes, so its indexes run to 60.
    const source = new Fsm('dc1');
    for (let i = 1; i <= 60; i++)
      source.apply(i, encodeCommand({ type: 'kvSet', key: `k${i % 3}`, value: bytes(`v${i}`), flags: 0 }));
    expect(source.store.lastIndex).toBe(60);

    // A fresh cluster at Raft index 5 restores it at Raft index 6.
    const target = new Fsm('dc1');
    for (let i = 1; i <= 5; i++)
      target.apply(i, encodeCommand({ type: 'kvSet', key: `mine${i}`, value: null, flags: 0 }));
    const generation = target.store.restoreGeneration;
    expect(target.apply(6, encodeCommand({ type: 'snapshotRestore', state: source.snapshot() }))).toBe(true);
    expect(target.store.restoreGeneration).toBe(generation + 1);
    expect(kv(target, 'mine1')).toBeNull();
    expect(kv(target, 'k0')).toEqual(kv(source, 'k0'));
    expect(target.store.lastIndex).toBe(60);
    expect(target.store.indexOffset).toBe(54);

    // The next write (Raft index 7) comes after every restored index.
    target.apply(7, encodeCommand({ type: 'kvSet', key: 'k0', value: bytes('after'), flags: 0 }));
    expect(kv(target, 'k0')?.ModifyIndex).toBe(61);
    expect(target.store.kvList('').index).toBe(61);

    // A server catching up from a Raft snapshot of the target (taken at Raft index 7) agrees.
    const follower = new Fsm('dc1');
    follower.restore(target.snapshot(), 7);
    follower.apply(8, encodeCommand({ type: 'kvSet', key: 'k1', value: null, flags: 0 }));
    target.apply(8, encodeCommand({ type: 'kvSet', key: 'k1', value: null, flags: 0 }));
    expect(kv(follower, 'k1')?.ModifyIndex).toBe(62);
    expect(follower.store.dump()).toEqual(target.store.dump());
  });

  it('keeps the snapshot’s indexes and the log’s when the snapshot is older than the cluster', () => {
    const source = new Fsm('dc1');
    source.apply(3, encodeCommand({ type: 'kvSet', key: 'old', value: bytes('o'), flags: 0 }));
    const target = new Fsm('dc1');
    for (let i = 1; i <= 40; i++)
      target.apply(i, encodeCommand({ type: 'kvSet', key: 'new', value: null, flags: 0 }));
    target.apply(41, encodeCommand({ type: 'snapshotRestore', state: source.snapshot() }));
    expect(target.store.indexOffset).toBe(0);
    expect(target.store.lastIndex).toBe(41);
    expect(kv(target, 'old')?.ModifyIndex).toBe(3);
    expect(kv(target, 'new')).toBeNull();
  });

  it('refuses a state that is not a store, and changes nothing', () => {
    const target = populated();
    const before = target.store.dump();
    const r = target.apply(
      10,
      encodeCommand({ type: 'snapshotRestore', state: encodeState({ version: 7 } as never) }),
    );
    expect(r).toBeInstanceOf(Error);
    expect(target.store.dump()).toEqual({ ...before, lastIndex: 10 });
  });
});
