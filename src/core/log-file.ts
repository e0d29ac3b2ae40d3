// -log-file: the agent's log lines in a file that rotates by size and by age, with Consul's names
// and rules (its logging/logfile.go behaviour): the live file keeps its configured name
// (`consul.log` when the path is a directory); at rotation it is renamed with the time inserted
// before the extension (`consul-1733400000000000000.log`, Unix nanoseconds) and a new live file is
// started; `max_files` rotated files are kept (0: all, -1: none). The naming and pruning rules are
// pure functions; the class does the file I/O, synchronously, so a line is on disk when the log
// call returns and nothing is lost when the process exits right after.

import { closeSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

export interface LogFileOptions {
  /** The configured path: a file, or a directory when it ends with a path separator. */
  path: string;
  /** Rotate once the live file holds this many bytes (0: no size limit). */
  rotateBytes: number;
  /** Rotate once the live file is this old (Consul's default: 24 h). */
  rotateDurationMs: number;
  /** Rotated files kept: 0 keeps all, -1 keeps none, N the newest N. */
  maxFiles: number;
}

/** Consul's file name when -log-file names a directory. */
export const DEFAULT_LOG_FILE_NAME = 'consul.log';

/** Where the live file goes: `dir/` → `dir/consul.log`, `dir/name` → itself. */
export function logFileTarget(path: string): { dir: string; name: string } {
  if (path.endsWith('/') || path.endsWith('\\'))
    return { dir: path.slice(0, -1) || '/', name: DEFAULT_LOG_FILE_NAME };
  return { dir: dirname(path), name: basename(path) };
}

/** The name pieces of a rotated file: `<stem>-<nanos><ext>` (a name without an extension gets `.log`). */
function rotatedParts(name: string): { stem: string; ext: string } {
  const ext = extname(name);
  return ext === '' ? { stem: name, ext: '.log' } : { stem: name.slice(0, -ext.length), ext };
}

export function rotatedName(name: string, nanos: bigint): string {
  const { stem, ext } = rotatedParts(name);
  return `${stem}-${nanos}${ext}`;
}

/** The rotation time of a rotated file of `name`, or null for any other file. */
export function rotatedTime(name: string, candidate: string): bigint | null {
  const { stem, ext } = rotatedParts(name);
  if (!candidate.startsWith(`${stem}-`) || !candidate.endsWith(ext)) return null;
  const mid = candidate.slice(stem.length + 1, candidate.length - ext.length);
  return /^\d+$/.test(mid) ? BigInt(mid) : null;
}

/** Which rotated files to delete so that `maxFiles` remain (oldest first; 0: none, -1: all). */
export function filesToPrune(name: string, files: string[], maxFiles: number): string[] {
  if (maxFiles === 0) return [];
  const rotated = files
    .map((f) => ({ f, t: rotatedTime(name, f) }))
    .filter((x): x is { f: string; t: bigint } => x.t !== null)
    .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  if (maxFiles < 0) return rotated.map((x) => x.f);
  return rotated.slice(0, Math.max(0, rotated.length - maxFiles)).map((x) => x.f);
}

/** Whether the live file is due for rotation before the next write. */
export function rotationDue(
  o: Pick<LogFileOptions, 'rotateBytes' | 'rotateDurationMs'>,
  written: number,
  ageMs: number,
): boolean {
  return (o.rotateBytes > 0 && written >= o.rotateBytes) || ageMs >= o.rotateDurationMs;
}

export class RotatingLogFile {
  readonly dir: string;
  readonly name: string;
  private fd: number | null = null;
  private written = 0;
  private openedAt = 0;
  /** The last rotation stamp handed out: stamps only increase, so two rotations never share a name. */
  private lastStamp = 0n;

  constructor(
    private readonly o: LogFileOptions,
    private readonly now: () => number = Date.now,
  ) {
    const t = logFileTarget(o.path);
    this.dir = t.dir;
    this.name = t.name;
  }

  /** The live file's path. */
  get path(): string {
    return join(this.dir, this.name);
  }

  /** Opens (truncates) the live file: fails at start with a clear error if the path is unusable. */
  open(): void {
    mkdirSync(this.dir, { recursive: true });
    // As Consul: the agent is the only writer, the live file starts empty.
    this.fd = openSync(this.path, 'w', 0o640);
    this.written = 0;
    this.openedAt = this.now();
  }

  write(line: string): void {
    if (this.fd === null) this.open();
    if (rotationDue(this.o, this.written, this.now() - this.openedAt)) this.rotate();
    const buf = Buffer.from(line, 'utf8');
    writeSync(this.fd as number, buf);
    this.written += buf.length;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private rotate(): void {
    this.close();
    renameSync(this.path, join(this.dir, rotatedName(this.name, this.stamp())));
    for (const f of filesToPrune(this.name, readdirSync(this.dir), this.o.maxFiles)) {
      rmSync(join(this.dir, f), { force: true });
    }
    this.open();
  }

  /** Unix nanoseconds (milliseconds from the clock, the rest from a counter to keep them unique). */
  private stamp(): bigint {
    const t = BigInt(this.now()) * 1_000_000n;
    this.lastStamp = t > this.lastStamp ? t : this.lastStamp + 1n;
    return this.lastStamp;
  }
}
