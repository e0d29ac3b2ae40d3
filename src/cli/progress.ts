// Progress for long commands: one line on stderr, redrawn in place, only when stderr is a terminal;
// in a pipe or a file it says nothing, so scripts see only the command's own output.

import { processIo, type Io } from './common.js';

export interface Progress {
  /** `done` units so far, of `total` when known (bytes for transfers). */
  update(done: number, total?: number): void;
  /** Draws the last state and ends the line (nothing when quiet or when nothing was drawn). */
  done(): void;
}

/** An Io may say whether its stderr is a terminal; the process's own asks the real stderr. */
export type ProgressIo = Pick<Io, 'err'> & { errIsTTY?: boolean };

/** Redraws at most this often: a fast transfer must not spend its time drawing. */
const REDRAW_MS = 100;

export function isTerminal(io: ProgressIo): boolean {
  return io.errIsTTY ?? (io.err === processIo.err && process.stderr.isTTY === true);
}

/** Bytes as people read them (1 decimal, binary units). */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function progress(io: ProgressIo, label: string, now: () => number = Date.now): Progress {
  if (!isTerminal(io)) return { update: () => undefined, done: () => undefined };
  let last = -Infinity;
  let state: { done: number; total?: number } = { done: 0 };
  let width = 0;
  let started = false;
  const draw = (): void => {
    const { done, total } = state;
    let text = `${label}: ${humanBytes(done)}`;
    if (total !== undefined && total > 0)
      text += ` / ${humanBytes(total)} (${Math.min(100, Math.floor((done / total) * 100))}%)`;
    // Pad over what the previous, longer line left behind.
    io.err(`\r${text.padEnd(width)}`);
    width = text.length;
  };
  return {
    update(done, total) {
      started = true;
      state = total === undefined ? { done } : { done, total };
      const t = now();
      if (t - last < REDRAW_MS) return;
      last = t;
      draw();
    },
    done() {
      if (!started) return;
      started = false;
      draw();
      io.err('\n');
    },
  };
}
