// consulate kv export [PREFIX] | kv import [-prefix P] [DATA]: Consul's JSON form of a KV tree, a
// list of {key, flags, value} with base64 values, tab-indented as Consul writes it.

import { readFile } from 'node:fs/promises';
import { clientFrom, CommandError, flagString, parseArgs, UsageError, type Io } from '../common.js';
import { progress } from '../progress.js';

export interface ExportEntry {
  key: string;
  flags: number;
  value: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Checks what `kv import` was given: a JSON list of entries, each value strict base64. */
export function parseExport(text: string): ExportEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CommandError(`Cannot unmarshal data: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw new CommandError('Cannot unmarshal data: expected a JSON list of entries');
  return data.map((e: unknown, i) => {
    const o = e as Partial<Record<keyof ExportEntry, unknown>> | null;
    if (typeof o !== 'object' || o === null || typeof o.key !== 'string')
      throw new CommandError(`Cannot unmarshal data: entry ${i} has no "key" string`);
    const flags = o.flags ?? 0;
    if (typeof flags !== 'number' || !Number.isSafeInteger(flags) || flags < 0)
      throw new CommandError(
        `Cannot unmarshal data: entry ${i} ("${o.key}"): flags must be a non-negative integer`,
      );
    const value = o.value ?? '';
    if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value))
      throw new CommandError(`Error base 64 decoding value for key ${o.key}: illegal base64 data`);
    return { key: o.key, flags, value };
  });
}

export async function kvExport(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {});
  if (p.args.length > 1) throw new UsageError(`Too many arguments (expected 1, got ${p.args.length})`);
  const shown = progress(io, 'exporting');
  shown.update(0);
  const entries = await clientFrom(p, io).kvList(p.args[0] ?? '');
  const out: ExportEntry[] = entries.map((e) => ({ key: e.Key, flags: e.Flags, value: e.Value ?? '' }));
  shown.done();
  io.out(JSON.stringify(out, null, '\t') + '\n');
  return 0;
}

async function importData(arg: string | undefined, io: Io): Promise<string> {
  if (arg === undefined) throw new CommandError('Error! Missing DATA argument');
  if (arg === '') throw new CommandError('Error! Empty DATA argument');
  if (arg === '-') return (await io.stdin()).toString('utf8');
  if (arg.startsWith('@')) {
    try {
      return await readFile(arg.slice(1), 'utf8');
    } catch (err) {
      throw new CommandError(`Error! Failed to read file: ${(err as Error).message}`);
    }
  }
  return arg;
}

export async function kvImport(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { prefix: 'value' });
  if (p.args.length > 1) throw new UsageError(`Error! Too many arguments (expected 1, got ${p.args.length})`);
  const entries = parseExport(await importData(p.args[0], io));
  const prefix = flagString(p, 'prefix') ?? '';
  const client = clientFrom(p, io);
  const shown = progress(io, 'importing');
  try {
    for (const [i, e] of entries.entries()) {
      const key = prefix + e.key;
      shown.update(i, entries.length);
      try {
        await client.kvPut(key, Buffer.from(e.value, 'base64'), { flags: e.flags });
      } catch (err) {
        throw new CommandError(`Error! Failed writing data for key ${key}: ${(err as Error).message}`);
      }
      io.out(`Imported: ${key}\n`);
    }
  } finally {
    shown.done();
  }
  return 0;
}
