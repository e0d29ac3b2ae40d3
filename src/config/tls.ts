// Consul's agent TLS settings: `tls { defaults, https, internal_rpc }` (Consul 1.12+) and the
// older top-level keys, resolved per interface (HTTPS, server RPC) the way Consul does it: a value
// set on the interface wins, else the one in `defaults`. The files are read and checked here at
// start (missing or unreadable files, a key that does not belong to its certificate, verification
// without a CA), so a bad setting stops the agent with one line instead of failing handshakes later.

import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConsulError, ErrorCode } from '../core/errors.js';

/** One interface's settings; unset fields fall back to `defaults`. */
export interface TlsSettings {
  caFile: string;
  /** A directory of PEM CA files (every *.pem, *.crt in it). */
  caPath: string;
  certFile: string;
  keyFile: string;
  verifyIncoming: boolean;
  verifyOutgoing: boolean;
  /** tls_min_version: 'TLSv1.2' (Consul's default) or 'TLSv1.3'. */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

export interface TlsConfig {
  defaults: TlsSettings;
  https: Partial<TlsSettings>;
  internalRpc: Partial<TlsSettings>;
  /** internal_rpc.verify_server_hostname: a server's certificate must name server.<dc>.<domain>. */
  verifyServerHostname: boolean;
}

export function defaultTlsConfig(): TlsConfig {
  return {
    defaults: {
      caFile: '',
      caPath: '',
      certFile: '',
      keyFile: '',
      verifyIncoming: false,
      verifyOutgoing: false,
      minVersion: 'TLSv1.2',
    },
    https: {},
    internalRpc: {},
    verifyServerHostname: false,
  };
}

export type TlsInterface = 'https' | 'internalRpc';

/** The interface's own value where set, else the default's. */
export function tlsSettings(t: TlsConfig, which: TlsInterface): TlsSettings {
  return { ...t.defaults, ...t[which] };
}

/** PEM material of one interface, as node:tls takes it. */
export interface TlsMaterial {
  /** The CA certificates (PEM, one entry per certificate); empty: none configured. */
  ca: string[];
  cert: string;
  key: string;
  verifyIncoming: boolean;
  verifyOutgoing: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** What the server RPC port uses. */
export interface RpcTlsMaterial extends TlsMaterial {
  verifyServerHostname: boolean;
}

function tlsError(msg: string): ConsulError {
  return new ConsulError(ErrorCode.Config, msg);
}

const KEY_NAMES: Record<TlsInterface, string> = { https: 'tls.https', internalRpc: 'tls.internal_rpc' };

function readPem(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw tlsError(
      `${what} "${path}" cannot be read: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  if (!text.includes('-----BEGIN ')) throw tlsError(`${what} "${path}" is not a PEM file`);
  return text;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text, each checked to parse. */
function certificatesIn(text: string, what: string, path: string): string[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw tlsError(`${what} "${path}" holds no certificate`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (err) {
      throw tlsError(`${what} "${path}": not a valid certificate: ${(err as Error).message}`);
    }
  }
  return blocks;
}

/** The name of the config key a setting came from, for error messages. */
type KeyOf = (field: keyof TlsSettings, name: string) => string;

function caCertificates(s: TlsSettings, keyOf: KeyOf): string[] {
  const caFile = keyOf('caFile', 'ca_file');
  const caPath = keyOf('caPath', 'ca_path');
  const out: string[] = [];
  if (s.caFile !== '') out.push(...certificatesIn(readPem(s.caFile, caFile), caFile, s.caFile));
  if (s.caPath !== '') {
    let names: string[];
    try {
      names = readdirSync(s.caPath).sort();
    } catch (err) {
      throw tlsError(`${caPath} "${s.caPath}" cannot be read: ${(err as Error).message}`);
    }
    for (const n of names) {
      const p = join(s.caPath, n);
      if (!/\.(pem|crt)$/i.test(n) || !statSync(p).isFile()) continue;
      out.push(...certificatesIn(readPem(p, caPath), caPath, p));
    }
    if (out.length === 0) throw tlsError(`${caPath} "${s.caPath}" holds no .pem or .crt certificate`);
  }
  return out;
}

/**
 * The interface's files, read and checked; null when the interface has no TLS at all (no
 * certificate and no verification asked for).
 */
export function loadTlsMaterial(t: TlsConfig, which: TlsInterface): TlsMaterial | null {
  const s = tlsSettings(t, which);
  const where = KEY_NAMES[which];
  const keyOf: KeyOf = (field, name) => `${t[which][field] !== undefined ? where : 'tls.defaults'}.${name}`;
  const vi = keyOf('verifyIncoming', 'verify_incoming');
  const vsh = which === 'internalRpc' && t.verifyServerHostname;
  const vo = vsh
    ? 'tls.internal_rpc.verify_server_hostname (it implies verify_outgoing)'
    : keyOf('verifyOutgoing', 'verify_outgoing');
  // Consul: verify_server_hostname implies verify_outgoing.
  const verifyOutgoing = s.verifyOutgoing || vsh;
  if (s.certFile === '' && s.keyFile === '' && s.caFile === '' && s.caPath === '') {
    if (s.verifyIncoming)
      throw tlsError(`${vi} is set but there is no ca_file or ca_path to check clients against`);
    if (verifyOutgoing)
      throw tlsError(`${vo} is set but there is no ca_file or ca_path to check servers against`);
    return null;
  }
  if ((s.certFile === '') !== (s.keyFile === ''))
    throw tlsError(
      `${keyOf('certFile', 'cert_file')} and ${keyOf('keyFile', 'key_file')} must be set together`,
    );
  const ca = caCertificates(s, keyOf);
  if (s.verifyIncoming && ca.length === 0)
    throw tlsError(`${vi} is set but there is no ca_file or ca_path to check clients against`);
  if (verifyOutgoing && ca.length === 0)
    throw tlsError(`${vo} is set but there is no ca_file or ca_path to check servers against`);
  if (s.verifyIncoming && s.certFile === '')
    throw tlsError(`${vi} is set but there is no cert_file and key_file to serve TLS with`);
  let cert = '';
  let key = '';
  if (s.certFile !== '') {
    const certKey = keyOf('certFile', 'cert_file');
    const keyKey = keyOf('keyFile', 'key_file');
    cert = readPem(s.certFile, certKey);
    key = readPem(s.keyFile, keyKey);
    const leaf = certificatesIn(cert, certKey, s.certFile)[0] as string;
    let priv;
    try {
      priv = createPrivateKey(key);
    } catch (err) {
      throw tlsError(`${keyKey} "${s.keyFile}" is not a private key: ${(err as Error).message}`);
    }
    const fromKey = createPublicKey(priv).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' });
    if (!fromKey.equals(fromCert))
      throw tlsError(`${keyKey} "${s.keyFile}" is not the key of ${certKey} "${s.certFile}"`);
  }
  return { ca, cert, key, verifyIncoming: s.verifyIncoming, verifyOutgoing, minVersion: s.minVersion };
}

/** The server RPC port's material (null: plaintext only, as before TLS). */
export function loadRpcTlsMaterial(t: TlsConfig): RpcTlsMaterial | null {
  const m = loadTlsMaterial(t, 'internalRpc');
  return m ? { ...m, verifyServerHostname: t.verifyServerHostname } : null;
}
