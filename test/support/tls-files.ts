// A private CA and certificates in a temporary directory, made with `consulate tls` itself.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tlsCommand } from '../../src/cli/commands/tls.js';
import { captureIo } from './capture-io.js';

/** Runs `consulate tls <args>` in `dir`; throws with its output when it fails. */
export async function tls(dir: string, ...args: string[]): Promise<string> {
  const io = Object.assign(captureIo(), { cwd: dir });
  const code = await tlsCommand(args, io);
  if (code !== 0) throw new Error(`consulate tls ${args.join(' ')} exited ${code}: ${io.stderr}`);
  return io.stdout;
}

export interface TlsFiles {
  dir: string;
  ca: string;
  caKey: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  cli: { cert: string; key: string };
}

/** A CA with one server, one client and one CLI certificate for dc1 (as the README's steps make). */
export async function makeTlsFiles(prefix = 'consulate-tls-'): Promise<TlsFiles> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  await tls(dir, 'ca', 'create');
  await tls(dir, 'cert', 'create', '-server');
  await tls(dir, 'cert', 'create', '-client');
  await tls(dir, 'cert', 'create', '-cli');
  const pair = (name: string): { cert: string; key: string } => ({
    cert: join(dir, `${name}.pem`),
    key: join(dir, `${name}-key.pem`),
  });
  return {
    dir,
    ca: join(dir, 'consul-agent-ca.pem'),
    caKey: join(dir, 'consul-agent-ca-key.pem'),
    server: pair('dc1-server-consul-0'),
    client: pair('dc1-client-consul-0'),
    cli: pair('dc1-cli-consul-0'),
  };
}
