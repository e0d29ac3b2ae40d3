// consulate tls ca create | tls cert create: a private CA and the agents' certificates, with
// Consul's flags and file names (consul-agent-ca.pem, dc1-server-consul-0.pem, ...), written in
// the current directory. Keys are written mode 0600 and never overwritten.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { createCa, createCert, type CertKind } from '../../tls/certs.js';
import { flagBool, flagString, parseArgs, UsageError, type FlagSpec, type Io } from '../common.js';

const USAGE = `Usage: consulate tls <subcommand> <subcommand> [options]

Subcommands:
    ca create     Creates a private CA (consul-agent-ca.pem, consul-agent-ca-key.pem)
    cert create   Creates a certificate signed by it (-server, -client or -cli)
`;

/** The directory files are written to and read from (the process's; tests pass another). */
export interface TlsIo extends Io {
  cwd?: string;
}

function positiveInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) <= 0)
    throw new UsageError(`invalid value "${v}" for -${name}: expected a positive number of days`);
  return Number(v);
}

function writeNew(dir: string, name: string, text: string, mode: number, io: Io): void {
  const p = join(dir, name);
  // 'wx': an existing file (an earlier CA, someone's key) is never replaced.
  try {
    writeFileSync(p, text, { mode, flag: 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') throw new UsageError(`${name} already exists`);
    throw err;
  }
  io.out(`==> Saved ${name}\n`);
}

const CA_FLAGS: FlagSpec = {
  days: 'value',
  domain: 'value',
  'name-constraint': 'bool',
  'additional-name-constraint': 'list',
  'common-name': 'value',
};

async function caCreate(argv: string[], io: TlsIo): Promise<number> {
  const p = parseArgs(argv, CA_FLAGS);
  if (p.args.length > 0) throw new UsageError(`unexpected argument "${p.args[0]}"`);
  const domain = flagString(p, 'domain') ?? 'consul';
  const dir = io.cwd ?? process.cwd();
  const certFile = `${domain}-agent-ca.pem`;
  const keyFile = `${domain}-agent-ca-key.pem`;
  for (const f of [certFile, keyFile])
    if (existsSync(join(dir, f))) throw new UsageError(`${f} already exists`);
  const ca = await createCa({
    days: positiveInt(flagString(p, 'days'), 'days', 1825),
    domain,
    nameConstraint: flagBool(p, 'name-constraint'),
    additionalConstraints: p.flags.get('additional-name-constraint') ?? [],
    commonName: flagString(p, 'common-name') ?? '',
  });
  writeNew(dir, certFile, ca.cert, 0o644, io);
  writeNew(dir, keyFile, ca.key, 0o600, io);
  return 0;
}

const CERT_FLAGS: FlagSpec = {
  server: 'bool',
  client: 'bool',
  cli: 'bool',
  dc: 'value',
  domain: 'value',
  days: 'value',
  node: 'value',
  ca: 'value',
  key: 'value',
  'additional-dnsname': 'list',
  'additional-ipaddress': 'list',
};

function readOrExplain(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`${what} file ${path} not found (consulate tls ca create makes one)`);
  }
}

async function certCreate(argv: string[], io: TlsIo): Promise<number> {
  const p = parseArgs(argv, CERT_FLAGS);
  if (p.args.length > 0) throw new UsageError(`unexpected argument "${p.args[0]}"`);
  const kinds = (['server', 'client', 'cli'] as const).filter((k) => flagBool(p, k));
  if (kinds.length !== 1) throw new UsageError('Please provide exactly one of -server, -client or -cli');
  const kind = kinds[0] as CertKind;
  const dc = flagString(p, 'dc') ?? 'dc1';
  const domain = flagString(p, 'domain') ?? 'consul';
  const node = flagString(p, 'node') ?? '';
  if (node !== '' && kind !== 'server') throw new UsageError('-node requires -server');
  const ips = p.flags.get('additional-ipaddress') ?? [];
  for (const ip of ips)
    if (isIP(ip) === 0) throw new UsageError(`-additional-ipaddress "${ip}" is not an IP address`);
  const dir = io.cwd ?? process.cwd();
  const caFile = flagString(p, 'ca') ?? `${domain}-agent-ca.pem`;
  const keyFile = flagString(p, 'key') ?? `${domain}-agent-ca-key.pem`;
  const ca = {
    cert: readOrExplain(resolve(dir, caFile), 'CA'),
    key: readOrExplain(resolve(dir, keyFile), 'CA key'),
  };
  // Consul's names: <dc>-<kind>-<domain>-<n>.pem, n the first free number.
  const prefix = `${dc}-${kind}-${domain}`;
  let n = 0;
  while (existsSync(join(dir, `${prefix}-${n}.pem`)) || existsSync(join(dir, `${prefix}-${n}-key.pem`))) n++;
  const pem = await createCert({
    kind,
    dc,
    domain,
    days: positiveInt(flagString(p, 'days'), 'days', 365),
    node,
    additionalDnsNames: p.flags.get('additional-dnsname') ?? [],
    additionalIps: ips,
    ca,
  });
  if (kind === 'server') {
    io.out(
      '==> WARNING: Server Certificates grants authority to become a\n' +
        '    server and access all state in the cluster including root keys\n' +
        '    and all ACL tokens. Do not distribute them to production hosts\n' +
        '    that are not server nodes. Store them as securely as CA keys.\n',
    );
  }
  io.out(`==> Using ${caFile} and ${keyFile}\n`);
  writeNew(dir, `${prefix}-${n}.pem`, pem.cert, 0o644, io);
  writeNew(dir, `${prefix}-${n}-key.pem`, pem.key, 0o600, io);
  return 0;
}

export async function tlsCommand(argv: string[], io: TlsIo): Promise<number> {
  const [group, verb, ...rest] = argv;
  if (group === 'ca' && verb === 'create') return caCreate(rest, io);
  if (group === 'cert' && verb === 'create') return certCreate(rest, io);
  if (group === undefined || group === '-h' || group === '--help') {
    io.out(USAGE);
    return group ? 0 : 1;
  }
  io.err(USAGE);
  return 1;
}
