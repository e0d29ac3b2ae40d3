// consulate snapshot save|restore|inspect (Consul's command/snapshot): save writes the servers'
// state to a file and verifies it, restore sends a file back, inspect reads one without any agent.
// Transfers show progress on a terminal and stay quiet in pipes.

import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import { verifySnapshot, stateStats, byteSize, type TypeStat } from '../../snapshot/state.js';
import type { SnapshotMeta } from '../../snapshot/archive.js';
import { clientFrom, flagString, parseArgs, UsageError, type Io } from '../common.js';
import { progress } from '../progress.js';

const USAGE = `Usage: consulate snapshot <subcommand> [options] <file>

Subcommands:
    save       Saves the servers' state to a file and verifies it
    restore    Restores the servers' state from a file (needs a management token)
    inspect    Prints a snapshot file's metadata and what it holds (-format=pretty|json)
`;

export async function snapshotCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'save':
      return save(rest, io);
    case 'restore':
      return restore(rest, io);
    case 'inspect':
      return inspect(rest, io);
    case '-h':
    case '--help':
    case 'help':
      io.out(USAGE);
      return 0;
    default:
      throw new UsageError(USAGE.trimEnd());
  }
}

function oneFile(args: string[]): string {
  if (args.length !== 1 || args[0] === '') throw new UsageError('This command takes one argument: <file>');
  return args[0] as string;
}

/** The line Consul prints for a failed step, and its exit code. */
function failed(io: Io, what: string, err: unknown): number {
  const msg = err instanceof Error ? err.message : String(err);
  io.err(`${what}: ${msg}\n`);
  return err instanceof ConsulError && err.code === ErrorCode.Internal ? 2 : 1;
}

/**
 * Downloads to `<file>.tmp`, verifies it in full, and only then renames it over `file`: a failed
 * save never leaves a damaged file where a good one is expected.
 */
async function save(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  const file = oneFile(p.args);
  const client = clientFrom(p, io);
  const bar = progress(io, 'Saving snapshot', { bytes: true });
  let archive: Buffer;
  let index: number;
  try {
    const r = await client.ok('GET', '/v1/snapshot', { onBody: (n, total) => bar.update(n, total) });
    bar.done();
    archive = r.body;
    index = r.index;
  } catch (err) {
    bar.done();
    return failed(io, 'Error saving snapshot', err);
  }
  const tmp = `${file}.tmp`;
  try {
    await writeFile(tmp, archive, { mode: 0o600 });
  } catch (err) {
    return failed(io, 'Error writing snapshot file', err);
  }
  try {
    await verifySnapshot(await readFile(tmp));
  } catch (err) {
    await rm(tmp, { force: true });
    return failed(io, 'Error verifying snapshot file', err);
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    return failed(io, 'Error renaming snapshot file', err);
  }
  io.out(`Saved and verified snapshot to index ${index}\n`);
  return 0;
}

async function restore(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  const file = oneFile(p.args);
  const client = clientFrom(p, io);
  let archive: Buffer;
  try {
    archive = await readFile(file);
  } catch (err) {
    return failed(io, 'Error opening snapshot file', err);
  }
  // Checked here too, so a damaged file is refused before it travels (the leader checks again).
  try {
    await verifySnapshot(archive);
  } catch (err) {
    return failed(io, 'Error verifying snapshot file', err);
  }
  const bar = progress(io, 'Restoring snapshot', { bytes: true });
  try {
    await client.ok('PUT', '/v1/snapshot', { body: archive, onSent: (n, total) => bar.update(n, total) });
    bar.done();
  } catch (err) {
    bar.done();
    return failed(io, 'Error restoring snapshot', err);
  }
  io.out('Restored snapshot\n');
  return 0;
}

interface InspectOutput {
  Meta: Pick<SnapshotMeta, 'ID' | 'Size' | 'Index' | 'Term' | 'Version'>;
  Stats: TypeStat[];
  TotalSize: number;
}

async function inspect(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { format: 'value' });
  const format = flagString(p, 'format') ?? 'pretty';
  if (format !== 'pretty' && format !== 'json') throw new UsageError(`Unknown format: ${format}`);
  const file = oneFile(p.args);
  let archive: Buffer;
  try {
    archive = await readFile(file);
  } catch (err) {
    return failed(io, 'Error opening snapshot file', err);
  }
  let info: InspectOutput;
  try {
    const snap = await verifySnapshot(archive);
    const stats = stateStats(snap.data);
    const { ID, Size, Index, Term, Version } = snap.meta;
    info = {
      Meta: { ID, Size, Index, Term, Version },
      Stats: stats,
      TotalSize: stats.reduce((n, s) => n + s.Sum, 0),
    };
  } catch (err) {
    return failed(io, 'Error extracting snapshot data', err);
  }
  io.out(format === 'json' ? `${JSON.stringify(info, null, 3)}\n` : pretty(info));
  return 0;
}

/**
 * Consul's layout (a tabwriter: columns at least 8 wide, 6 spaces of padding): the metadata,
 * then a table of record kinds with their count and size, and the total.
 */
function pretty(info: InspectOutput): string {
  const m = info.Meta;
  const head = [
    [' ID', m.ID],
    [' Size', String(m.Size)],
    [' Index', String(m.Index)],
    [' Term', String(m.Term)],
    [' Version', String(m.Version)],
  ];
  const rule = [' ----', '----', '----'];
  const rows = [
    [' Type', 'Count', 'Size'],
    rule,
    ...info.Stats.map((s) => [` ${s.Name}`, String(s.Count), byteSize(s.Sum)]),
    rule,
    [' Total', '', byteSize(info.TotalSize)],
  ];
  return `${columns(head)}\n${columns(rows)}`;
}

/** Every cell but a row's last padded to its column's width plus 6 (at least 8), lines trimmed. */
function columns(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      if (i < r.length - 1) widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows
    .map(
      (r) =>
        r
          .map((c, i) => (i < r.length - 1 ? c.padEnd(Math.max(8, (widths[i] ?? 0) + 6)) : c))
          .join('')
          .trimEnd() + '\n',
    )
    .join('');
}
