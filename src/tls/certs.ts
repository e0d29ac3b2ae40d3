// A private CA and the certificates it signs, for `consulate tls ca|cert create`: ECDSA P-256 keys
// and SHA-256 signatures as Consul's tls command makes them, with the same names in the subject
// alternative names (server.<dc>.<domain>, localhost, 127.0.0.1), so verify_server_hostname tells
// a server certificate from a client one. X.509 encoding is @peculiar/x509's (over WebCrypto);
// keys are written as SEC1 "EC PRIVATE KEY" PEM, like Consul's.

// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto);

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
const OID_NAME_CONSTRAINTS = '2.5.29.30';

export interface Pem {
  cert: string;
  key: string;
}

/** A positive serial of 16 random bytes (hex), as RFC 5280 asks. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f;
  return b.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
}

async function keyPem(k: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    type: 'sec1',
    format: 'pem',
  }) as string;
}

/** A PEM private key (SEC1 or PKCS#8) as a WebCrypto signing key; only P-256 keys are taken. */
async function signingKey(pem: string): Promise<CryptoKey> {
  const k = createPrivateKey(pem);
  if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new Error('the CA key must be an ECDSA P-256 key (as consulate tls ca create makes)');
  const der = k.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

/** Distinguished-name values are joined into x509's string form; commas etc. are escaped. */
function dn(parts: [string, string][]): string {
  return parts.map(([k, v]) => `${k}=${v.replace(/([,+"\\<>;=])/g, '\\$1')}`).join(', ');
}

export interface CaOptions {
  days: number;
  /** The cluster's domain, for the name constraint ('consul'). */
  domain: string;
  /** Only sign names under localhost, the domain and `additionalConstraints` (X.509 name constraints). */
  nameConstraint: boolean;
  additionalConstraints: string[];
  /** The CA's common name; '' = "Consulate Agent CA <serial number>". */
  commonName: string;
  now?: Date;
}

export async function createCa(o: CaOptions): Promise<Pem> {
  const keys = await newKeys();
  const sn = serial();
  const now = o.now ?? new Date();
  const cn = o.commonName || `Consulate Agent CA ${BigInt(`0x${sn}`).toString()}`;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (o.nameConstraint) {
    const names = ['localhost', o.domain, ...o.additionalConstraints].filter((n) => n !== '');
    const permitted = new GeneralSubtrees(
      [...new Set(names)].map((n) => new GeneralSubtree({ base: new GeneralName({ dNSName: n }) })),
    );
    const value = AsnConvert.serialize(new NameConstraints({ permittedSubtrees: permitted }));
    extensions.push(new x509.Extension(OID_NAME_CONSTRAINTS, true, value));
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: sn,
    name: dn([
      ['CN', cn],
      ['O', 'Consulate'],
      ['OU', 'Agent CA'],
    ]),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + o.days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await keyPem(keys.privateKey) };
}

export type CertKind = 'server' | 'client' | 'cli';

export interface CertOptions {
  kind: CertKind;
  dc: string;
  domain: string;
  days: number;
  /** -node: a server certificate also names <node>.server.<dc>.<domain>. */
  node: string;
  additionalDnsNames: string[];
  additionalIps: string[];
  ca: Pem;
  now?: Date;
}

/** The common name Consul gives each kind; servers' and clients' are in the DNS names too. */
export function certName(kind: CertKind, dc: string, domain: string): string {
  return kind === 'cli' ? `cli.client.${dc}.${domain}` : `${kind}.${dc}.${domain}`;
}

export async function createCert(o: CertOptions): Promise<Pem> {
  const caCert = new x509.X509Certificate(o.ca.cert);
  // Checked before signing: a CA key that does not match would make certificates nobody accepts.
  if (!new NodeX509(o.ca.cert).checkPrivateKey(createPrivateKey(o.ca.key)))
    throw new Error('the CA key does not belong to the CA certificate');
  const caKey = await signingKey(o.ca.key);
  const keys = await newKeys();
  const now = o.now ?? new Date();
  const name = certName(o.kind, o.dc, o.domain);
  const dns: string[] = ['localhost'];
  const ips: string[] = [];
  if (o.kind !== 'cli') {
    dns.unshift(name);
    if (o.kind === 'server' && o.node !== '') dns.push(`${o.node}.server.${o.dc}.${o.domain}`);
    ips.push('127.0.0.1');
  }
  dns.push(...o.additionalDnsNames);
  ips.push(...o.additionalIps);
  const usages =
    o.kind === 'cli'
      ? [x509.ExtendedKeyUsage.clientAuth]
      : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: dn([['CN', name]]),
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + o.days * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension([
        ...[...new Set(dns)].map((value) => ({ type: 'dns' as const, value })),
        ...[...new Set(ips)].map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await keyPem(keys.privateKey) };
}
