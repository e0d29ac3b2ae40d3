// What the benchmark phases share: where things are, logging and formatting, and the row shape of
// the results table. Each phase keeps its own process bookkeeping (what it must kill differs).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const execP = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '../..');
export const ANCHORS = resolve(process.env['ANCHORS'] ?? join(ROOT, '../shared/bench/anchors'));
export const BIN = join(ROOT, 'bin/consulate.js');

/** One row of the results table: our figure, the anchor's, their ratio and the target. */
export interface BenchRow {
  what: string;
  ours: string;
  anchor: string;
  ratio: string;
  target: string;
}

export const log = (s: string): void => void process.stderr.write(`${s}\n`);
export const fmt = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = await execP('getconf', ['CLK_TCK'])
  .then((r) => Number(r.stdout.trim()) || 100)
  .catch(() => 100);

/** utime + stime of a process from /proc, in seconds (NaN once it is gone or without a pid). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] as number) : NaN;
}

export function ratio(ours: number, anchor: number): string {
  return Number.isFinite(ours) && Number.isFinite(anchor) && anchor > 0
    ? `${(ours / anchor).toFixed(2)}x`
    : 'n/a';
}
