// `consulate tls ca|cert create` (files, modes, names checked with node's X509Certificate) and the
// agent's TLS settings: the tls block, the older top-level keys, and the checks made at start.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsCommand } from '../../src/cli/commands/tls.js';
import { defaultConfig, validateConfig, type AgentConfig } from '../../src/config/config.js';
import { applyConfigObject, loadAgentConfig } from '../../src/config/load.js';
import { loadRpcTlsMaterial, tlsSettings } from '../../src/config/tls.js';
import { captureIo } from '../support/capture-io.js';
import { makeTlsFiles, tls, type TlsFiles } from '../support/tls-files.js';

let f: TlsFiles;
let other: TlsFiles;
beforeAll(async () => {
  f = await makeTlsFiles();
  other = await makeTlsFiles();
});
afterAll(() => {
  for (const d of [f.dir, other.dir]) rmSync(d, { recursive: true, force: true });
});

const x509 = (path: string): X509Certificate => new X509Certificate(readFileSync(path));
const mode = (path: string): number => statSync(path).mode & 0o777;

describe('consulate tls ca create', () => {
  it("writes Consul's file names, the key 0600, a P-256 CA certificate", () => {
    expect(mode(f.caKey)).toBe(0o600);
    expect(mode(f.ca)).toBe(0o644);
    const ca = x509(f.ca);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(readFileSync(f.caKey, 'utf8')).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(ca.checkPrivateKey(createPrivateKey(readFileSync(f.caKey)))).toBe(true);
    // -days: Consul's 5 years by default.
    const days = (Date.parse(ca.validTo) - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(1825);
  });

  it('never overwrites an existing CA', async () => {
    const io = Object.assign(captureIo(), { cwd: f.dir });
    const before = readFileSync(f.caKey, 'utf8');
    expect(await tlsCommand(['ca', 'create'], io).catch((e: Error) => e.message)).toMatch(/already exists/);
    expect(readFileSync(f.caKey, 'utf8')).toBe(before);
  });

  it('-domain, -days and -name-constraint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consulate-tls-nc-'));
    try {
      const out = await tls(dir, 'ca', 'create', '-domain', 'example', '-days', '30', '-name-constraint');
      expect(out).toContain('==> Saved example-agent-ca.pem');
      const ca = x509(join(dir, 'example-agent-ca.pem'));
      expect(Math.round((Date.parse(ca.validTo) - Date.now()) / 86_400_000)).toBe(30);
      // Name constraints: node shows no text for them, but the extension's DER carries the names.
      const der = ca.raw.toString('latin1');
      expect(der).toContain('example');
      expect(der).toContain('localhost');
      await tls(dir, 'cert', 'create', '-server', '-domain', 'example');
      const s = x509(join(dir, 'dc1-server-example-0.pem'));
      expect(s.subjectAltName).toContain('DNS:server.dc1.example');
      expect(s.verify(ca.publicKey)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('consulate tls cert create', () => {
  it('-server: server.dc1.consul, localhost and 127.0.0.1, server and client auth, signed by the CA', () => {
    const c = x509(f.server.cert);
    expect(c.subject).toBe('CN=server.dc1.consul');
    expect(c.subjectAltName).toBe('DNS:server.dc1.consul, DNS:localhost, IP Address:127.0.0.1');
    expect(c.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(c.ca).toBe(false);
    expect(c.verify(x509(f.ca).publicKey)).toBe(true);
    expect(c.checkIssued(x509(f.ca))).toBe(true);
    expect(c.checkHost('server.dc1.consul')).toBe('server.dc1.consul');
    expect(c.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(mode(f.server.key)).toBe(0o600);
    expect(c.checkPrivateKey(createPrivateKey(readFileSync(f.server.key)))).toBe(true);
    expect(Math.round((Date.parse(c.validTo) - Date.now()) / 86_400_000)).toBe(365);
  });

  it('-client is not valid for server.dc1.consul; -cli is for client auth only', () => {
    const c = x509(f.client.cert);
    expect(c.subjectAltName).toBe('DNS:client.dc1.consul, DNS:localhost, IP Address:127.0.0.1');
    expect(c.checkHost('server.dc1.consul')).toBeUndefined();
    const cli = x509(f.cli.cert);
    expect(cli.subject).toBe('CN=cli.client.dc1.consul');
    expect(cli.subjectAltName).toBe('DNS:localhost');
    expect(cli.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('numbers files, and takes -dc, -node, -additional-dnsname, -additional-ipaddress, -days', async () => {
    const out = await tls(
      f.dir,
      'cert',
      'create',
      '-server',
      '-dc',
      'dc2',
      '-node',
      'web-1',
      '-additional-dnsname',
      'consul.example.com',
      '-additional-ipaddress',
      '10.0.0.7',
      '-days',
      '10',
    );
    expect(out).toContain('WARNING: Server Certificates grants authority');
    expect(out).toContain('==> Saved dc2-server-consul-0.pem');
    await tls(f.dir, 'cert', 'create', '-server', '-dc', 'dc2');
    expect(existsSync(join(f.dir, 'dc2-server-consul-1.pem'))).toBe(true);
    const c = x509(join(f.dir, 'dc2-server-consul-0.pem'));
    expect(c.subjectAltName).toBe(
      'DNS:server.dc2.consul, DNS:localhost, DNS:web-1.server.dc2.consul, DNS:consul.example.com, IP Address:127.0.0.1, IP Address:10.0.0.7',
    );
    expect(Math.round((Date.parse(c.validTo) - Date.now()) / 86_400_000)).toBe(10);
  });

  it('refuses bad usage with a clear message', async () => {
    const run = async (...args: string[]): Promise<string> => {
      const io = Object.assign(captureIo(), { cwd: f.dir });
      return tlsCommand(args, io).then(
        () => '',
        (e: Error) => e.message,
      );
    };
    expect(await run('cert', 'create')).toMatch(/exactly one of -server, -client or -cli/);
    expect(await run('cert', 'create', '-server', '-client')).toMatch(/exactly one/);
    expect(await run('cert', 'create', '-client', '-node', 'x')).toMatch(/-node requires -server/);
    expect(await run('cert', 'create', '-server', '-additional-ipaddress', 'nope')).toMatch(/not an IP/);
    expect(await run('cert', 'create', '-server', '-ca', 'missing.pem')).toMatch(
      /CA file .*missing.pem not found/,
    );
    expect(await run('cert', 'create', '-server', '-key', other.caKey)).toMatch(/CA key does not belong/);
  });
});

function configWith(obj: Record<string, unknown>, flags: string[] = []): AgentConfig {
  const c = loadAgentConfig(['-dev', ...flags], {});
  applyConfigObject(c, obj, 'test');
  return c;
}

describe('agent TLS settings', () => {
  it('reads the tls block per interface, with defaults filling in', () => {
    const c = configWith({
      tls: {
        defaults: { ca_file: f.ca, cert_file: f.server.cert, key_file: f.server.key, verify_incoming: true },
        https: { verify_incoming: false },
        internal_rpc: { verify_server_hostname: true, tls_min_version: 'TLSv1_3' },
      },
      ports: { https: 8501 },
    });
    expect(validateConfig(c)).toEqual([]);
    expect(tlsSettings(c.tls, 'https')).toMatchObject({
      caFile: f.ca,
      verifyIncoming: false,
      minVersion: 'TLSv1.2',
    });
    expect(tlsSettings(c.tls, 'internalRpc')).toMatchObject({ verifyIncoming: true, minVersion: 'TLSv1.3' });
    // verify_server_hostname implies verify_outgoing, as in Consul.
    expect(loadRpcTlsMaterial(c.tls)).toMatchObject({ verifyOutgoing: true, verifyServerHostname: true });
    expect(c.ports.https).toBe(8501);
  });

  it('takes the top-level keys of older Consul configs, and -https-port', () => {
    const c = configWith(
      {
        ca_file: f.ca,
        cert_file: f.server.cert,
        key_file: f.server.key,
        verify_incoming_rpc: true,
        verify_outgoing: true,
        verify_server_hostname: true,
      },
      ['-https-port', '8501'],
    );
    expect(validateConfig(c)).toEqual([]);
    expect(c.ports.https).toBe(8501);
    expect(tlsSettings(c.tls, 'internalRpc')).toMatchObject({ verifyIncoming: true, verifyOutgoing: true });
    expect(tlsSettings(c.tls, 'https').verifyIncoming).toBe(false);
    expect(c.tls.verifyServerHostname).toBe(true);
  });

  it('refuses a broken setup at start with one clear line', () => {
    const bad = (obj: Record<string, unknown>): string => {
      try {
        validateConfig(configWith(obj));
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    const mismatch = join(f.dir, 'mismatch-key.pem');
    writeFileSync(mismatch, readFileSync(f.client.key));
    expect(bad({ tls: { defaults: { ca_file: '/nope/ca.pem' } } })).toBe(
      'tls.defaults.ca_file "/nope/ca.pem" cannot be read: no such file',
    );
    expect(bad({ cert_file: f.server.cert, key_file: mismatch })).toMatch(
      /^tls.defaults.key_file ".*mismatch-key.pem" is not the key of tls.defaults.cert_file/,
    );
    expect(bad({ cert_file: f.server.cert })).toMatch(
      /^tls.defaults.cert_file and tls.defaults.key_file must be set together$/,
    );
    expect(bad({ verify_incoming: true, cert_file: f.server.cert, key_file: f.server.key })).toMatch(
      /verify_incoming is set but there is no ca_file or ca_path/,
    );
    expect(bad({ tls: { internal_rpc: { verify_server_hostname: true } } })).toMatch(
      /tls.internal_rpc.verify_server_hostname \(it implies verify_outgoing\) is set but there is no ca_file/,
    );
    expect(bad({ ca_file: f.ca, verify_incoming: true })).toMatch(/no cert_file and key_file to serve TLS/);
    expect(bad({ ports: { https: 8501 } })).toMatch(/ports.https is set but there is no certificate/);
    expect(bad({ ca_file: f.server.key })).toMatch(/holds no certificate/);
    expect(bad({ tls: { defaults: { tls_min_version: 'TLSv1_0' } } })).toMatch(
      /expected "TLSv1_2" or "TLSv1_3"/,
    );
    expect(bad({ tls: { defaults: { verify_incomming: true } } })).toMatch(/unknown key "verify_incomming"/);
  });

  it('leaves an agent without TLS settings as it was', () => {
    const c = defaultConfig();
    expect(loadRpcTlsMaterial(c.tls)).toBeNull();
  });
});
