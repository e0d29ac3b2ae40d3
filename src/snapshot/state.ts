// Between a state store and a snapshot archive: taking one (the archive of the store as it is now),
// checking one all the way down (the archive, then its state loaded into a scratch store, so a
// restore never starts on state that cannot be loaded), and what `snapshot inspect` counts in one.

import { Packr } from 'msgpackr';
import { badRequest } from '../core/errors.js';
import { decodeState, encodeState } from '../state/fsm.js';
import { StateStore, type StoreData } from '../state/store.js';
import { readArchive, SNAPSHOT_VERSION, writeArchive, type Snapshot, type SnapshotMeta } from './archive.js';

/** What the archive's metadata records of the Raft cluster it came from. */
export interface RaftView {
  term: number;
  servers: { id: string; address: string; voter: boolean }[];
  configurationIndex: number;
}

/** The store as it is now, as an archive (meta.Index is the store's last index). */
export function takeSnapshot(store: StateStore, raft: RaftView, now = new Date()): Snapshot {
  const state = encodeState(store.dump());
  const index = store.lastIndex;
  const meta: SnapshotMeta = {
    Version: SNAPSHOT_VERSION,
    ID: `${raft.term}-${index}-${now.getTime()}`,
    Index: index,
    Term: raft.term,
    // hashicorp/raft's suffrage numbers: 0 voter, 1 nonvoter.
    Configuration: {
      Servers: raft.servers.map((s) => ({ Suffrage: s.voter ? 0 : 1, ID: s.id, Address: s.address })),
    },
    ConfigurationIndex: raft.configurationIndex,
    Size: state.byteLength,
  };
  return { meta, state };
}

export function snapshotArchive(store: StateStore, raft: RaftView, now = new Date()): Promise<Uint8Array> {
  return writeArchive(takeSnapshot(store, raft, now), now);
}

/**
 * The archive verified through and through: its files and checksums, then its state decoded and
 * loaded into a store of its own. Throws a BadRequest saying what is wrong.
 */
export async function verifySnapshot(archive: Uint8Array): Promise<Snapshot & { data: StoreData }> {
  const snap = await readArchive(archive);
  let data: StoreData;
  try {
    data = decodeState(snap.state);
  } catch (err) {
    throw badRequest(`failed to decode snapshot state: ${(err as Error).message}`);
  }
  try {
    // load() keeps the rows it is given without changing them, so `data` goes back as decoded.
    new StateStore('verify').load(data);
  } catch (err) {
    throw badRequest(`failed to decode snapshot state: ${(err as Error).message}`);
  }
  return { ...snap, data };
}

// ---------------------------------------------------------------- inspect

export interface TypeStat {
  /** Consul's names for the kinds of records in a snapshot. */
  Name: string;
  Count: number;
  /** Bytes they take in state.bin (msgpack). */
  Sum: number;
}

const sizer = new Packr({ useRecords: false, mapsAsObjects: true });
const sizeOf = (v: unknown): number => sizer.pack(v).byteLength;

/** Count and size per kind of record, largest first (Consul's `snapshot inspect` table). */
export function stateStats(d: StoreData): TypeStat[] {
  const kv = d.kv;
  const catalog = d.catalog;
  const stats: TypeStat[] = [
    {
      Name: 'Register',
      Count: catalog.nodes.length + catalog.services.length + catalog.checks.length,
      Sum: sizeOf([catalog.nodes, catalog.services, catalog.checks]),
    },
    {
      Name: 'KVS',
      Count: kv.keys.length,
      Sum: sizeOf([kv.keys, kv.values, kv.flags, kv.create, kv.modify, kv.lock, kv.sessions]),
    },
    { Name: 'Tombstone', Count: kv.tombstones.keys.length, Sum: sizeOf(kv.tombstones) },
    { Name: 'Session', Count: d.sessions?.length ?? 0, Sum: sizeOf(d.sessions ?? []) },
    { Name: 'PreparedQuery', Count: d.preparedQueries?.length ?? 0, Sum: sizeOf(d.preparedQueries ?? []) },
    { Name: 'ACLToken', Count: d.acl?.tokens.length ?? 0, Sum: sizeOf(d.acl?.tokens ?? []) },
    { Name: 'ACLPolicy', Count: d.acl?.policies.length ?? 0, Sum: sizeOf(d.acl?.policies ?? []) },
    {
      Name: 'CoordinateBatchUpdate',
      Count: d.coordinates?.entries.length ?? 0,
      Sum: sizeOf(d.coordinates?.entries ?? []),
    },
  ];
  return stats.filter((s) => s.Count > 0).sort((a, b) => b.Sum - a.Sum || a.Name.localeCompare(b.Name));
}

/** Consul's ByteSize: one decimal, trailing ".0" dropped, binary units. */
export function byteSize(n: number): string {
  if (n === 0) return '0';
  const units: [number, string][] = [
    [2 ** 40, 'TB'],
    [2 ** 30, 'GB'],
    [2 ** 20, 'MB'],
    [2 ** 10, 'KB'],
  ];
  for (const [size, unit] of units) {
    if (n >= size) return `${(n / size).toFixed(1).replace(/\.0$/, '')}${unit}`;
  }
  return `${n}B`;
}
