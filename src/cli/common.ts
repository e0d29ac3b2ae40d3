// What every HTTP-speaking command shares: Consul's -http-addr / -token / -datacenter / -stale
// flags, CONSUL_HTTP_* environment variables, and the table from errors to exit codes.

import { readFileSync } from 'node:fs';
import { ConsulClient, clientOptionsFromEnv, type ClientOptions } from '../client/client.js';
import type { ErrorCode } from '../core/errors.js';
import { ConsulError } from '../core/errors.js';

export class UsageError extends Error {}
/** A failure whose message is already the whole line Consul prints (no "Error: " before it). */
export class CommandError extends Error {}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  stdin: () => Promise<Buffer>;
  env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal (progress lines are drawn only then; absent: no). */
  stderrIsTty?: () => boolean;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  },
  env: process.env,
  stderrIsTty: () => process.stderr.isTTY === true,
};

/** One table from error codes to exit codes: 1 for anything the user can fix, 2 for internal faults. */
export const exitCodeOf: Record<ErrorCode, number> = {
  BadRequest: 1,
  NotFound: 1,
  MethodNotAllowed: 1,
  TooLarge: 1,
  PermissionDenied: 1,
  ACLDisabled: 1,
  Conflict: 1,
  NoLeader: 1,
  NotLeader: 1,
  NoDCPath: 1,
  DCUnavailable: 1,
  Timeout: 1,
  Unavailable: 1,
  Internal: 2,
  Config: 1,
  Corrupt: 1,
};

export interface FlagSpec {
  [name: string]: 'bool' | 'value' | 'list';
}

export interface Parsed {
  flags: Map<string, string[]>;
  args: string[];
}

const HTTP_FLAGS: FlagSpec = {
  'http-addr': 'value',
  token: 'value',
  'token-file': 'value',
  datacenter: 'value',
  stale: 'bool',
  // TLS to an https:// agent (Consul's names; the CONSUL_CACERT ... variables are the defaults).
  'ca-file': 'value',
  'ca-path': 'value',
  'client-cert': 'value',
  'client-key': 'value',
  'tls-server-name': 'value',
};

/** Go-style flags up to the first positional argument; the rest are arguments. */
export function parseArgs(argv: string[], spec: FlagSpec): Parsed {
  const all = { ...HTTP_FLAGS, ...spec };
  const flags = new Map<string, string[]>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const kind = all[name];
    if (!kind) throw new UsageError(`flag provided but not defined: -${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (kind === 'bool') value = 'true';
    else {
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      value = v;
      i++;
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { flags, args: argv.slice(i) };
}

export function flagBool(p: Parsed, name: string): boolean {
  const v = p.flags.get(name)?.at(-1);
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`invalid boolean value "${v}" for -${name}`);
}

export function flagString(p: Parsed, name: string): string | undefined {
  return p.flags.get(name)?.at(-1);
}

export function flagInt(p: Parsed, name: string): number | undefined {
  const v = flagString(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v))
    throw new UsageError(`invalid value "${v}" for -${name}: expected a non-negative integer`);
  return Number(v);
}

export function clientFrom(p: Parsed, io: Io): ConsulClient {
  const o: ClientOptions = clientOptionsFromEnv(io.env);
  const addr = flagString(p, 'http-addr');
  if (addr) o.address = addr;
  // Consul's order: -token, then -token-file, then CONSUL_HTTP_TOKEN, then CONSUL_HTTP_TOKEN_FILE.
  const token = flagString(p, 'token');
  const tokenFile = flagString(p, 'token-file');
  if (token) o.token = token;
  else if (tokenFile) o.token = readTokenFile(tokenFile);
  const dc = flagString(p, 'datacenter');
  if (dc) o.datacenter = dc;
  if (flagBool(p, 'stale')) o.stale = true;
  const tls = { ...o.tls };
  const tlsFlags = [
    ['ca-file', 'caFile'],
    ['ca-path', 'caPath'],
    ['client-cert', 'certFile'],
    ['client-key', 'keyFile'],
    ['tls-server-name', 'serverName'],
  ] as const;
  for (const [flag, key] of tlsFlags) {
    const v = flagString(p, flag);
    if (v) tls[key] = v;
  }
  if (Object.keys(tls).length > 0) o.tls = tls;
  return new ConsulClient(o);
}

/** A token file's first line (Consul trims the whitespace around it). */
export function readTokenFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`Error loading token file: ${(err as Error).message}`);
  }
}

export function errorExit(err: unknown, io: Io): number {
  // A usage error may carry the command's usage after its first line; any other failure is one line.
  if (err instanceof UsageError) {
    io.err(`${err.message}\n`);
    return 1;
  }
  if (err instanceof CommandError) {
    io.err(`${oneLine(err.message)}\n`);
    return 1;
  }
  if (err instanceof ConsulError) {
    io.err(`Error: ${oneLine(err.message)}\n`);
    return exitCodeOf[err.code];
  }
  io.err(`Error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
  return 1;
}

/** An error is one line on stderr, even when an agent's message spans several (multi-errors). */
export function oneLine(message: string): string {
  return message.trim().replace(/\s*\n\s*/g, ' ');
}

/** Left-aligned columns separated by two spaces, as Consul's tables are. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
