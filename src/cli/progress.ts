// Progress for long CLI work (kv export/import, snapshot save/restore, waiting for a cluster): a
// line redrawn in place on stderr when stderr is a terminal, and nothing at all otherwise, so a
// pipe or a log only ever holds the command's real output.

import type { Io } from './common.js';

export interface Progress {
  /** `done` of `total` (unknown total: a count), with an optional note after the counts. */
  update(done: number, total?: number, note?: string): void;
  /** Clears the line (the command prints its own result). */
  done(): void;
}

export interface ProgressOptions {
  /** Counts are bytes: shown as KiB/MiB/GiB. */
  bytes?: boolean;
  /** Least time between two redraws (updates in between are skipped). */
  intervalMs?: number;
  now?: () => number;
}

const quiet: Progress = { update: () => undefined, done: () => undefined };

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** The text of one progress line (without the carriage return). */
export function progressText(
  label: string,
  done: number,
  total?: number,
  note?: string,
  bytes = false,
): string {
  const f = (n: number): string => (bytes ? formatBytes(n) : String(n));
  let s = `${label}: ${f(done)}`;
  if (total !== undefined && total > 0)
    s += ` / ${f(total)} (${Math.min(100, Math.floor((done / total) * 100))}%)`;
  if (note) s += ` ${note}`;
  return s;
}

export function progress(io: Io, label: string, o: ProgressOptions = {}): Progress {
  if (io.stderrIsTty?.() !== true) return quiet;
  const now = o.now ?? Date.now;
  const interval = o.intervalMs ?? 100;
  let lastDraw = -Infinity;
  let drawn = false;
  return {
    update(done, total, note) {
      const t = now();
      if (t - lastDraw < interval) return;
      lastDraw = t;
      drawn = true;
      io.err(`\r${progressText(label, done, total, note, o.bytes)}\x1b[K`);
    },
    done() {
      if (drawn) io.err('\r\x1b[K');
      drawn = false;
    },
  };
}
