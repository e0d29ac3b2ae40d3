// The server RPC port with TLS, two RpcNetworks on loopback: verify_incoming, verify_outgoing and
// verify_server_hostname each accept what they should and refuse the rest with one log line.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RpcTlsMaterial } from '../../src/config/tls.js';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import type { Message } from '../../src/raft/messages.js';
import { RpcNetwork } from '../../src/rpc/network.js';
import { RpcTls } from '../../src/rpc/tls.js';
import { createCa, createCert, type CertKind, type Pem } from '../../src/tls/certs.js';

interface Node {
  net: RpcNetwork;
  addr: string;
  lines: { msg: string; remote?: string; err?: string }[];
  raft: Message[];
  hellos: boolean[];
}

let ca: Pem;
let otherCa: Pem;
const certs: Record<string, Pem> = {};
const nodes: Node[] = [];

async function cert(kind: CertKind, from: Pem): Promise<Pem> {
  return createCert({
    kind,
    dc: 'dc1',
    domain: 'consul',
    days: 1,
    node: '',
    additionalDnsNames: [],
    additionalIps: [],
    ca: from,
  });
}

beforeAll(async () => {
  ca = await createCa({
    days: 1,
    domain: 'consul',
    nameConstraint: false,
    additionalConstraints: [],
    commonName: '',
  });
  otherCa = await createCa({
    days: 1,
    domain: 'consul',
    nameConstraint: false,
    additionalConstraints: [],
    commonName: '',
  });
  certs['server'] = await cert('server', ca);
  certs['client'] = await cert('client', ca);
  certs['foreign'] = await cert('server', otherCa);
});

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.net.close()));
});

function material(pem: Pem | null, v: Partial<RpcTlsMaterial>, caPem: Pem = ca): RpcTlsMaterial {
  return {
    ca: [caPem.cert],
    cert: pem?.cert ?? '',
    key: pem?.key ?? '',
    verifyIncoming: false,
    verifyOutgoing: false,
    verifyServerHostname: false,
    minVersion: 'TLSv1.2',
    ...v,
  };
}

const ALL = { verifyIncoming: true, verifyOutgoing: true, verifyServerHostname: true };

async function node(m: RpcTlsMaterial | null, server = true): Promise<Node> {
  const lines: Node['lines'] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const n: Node = { net: null as unknown as RpcNetwork, addr: '', lines, raft: [], hellos: [] };
  n.net = new RpcNetwork({
    self: () => ({ id: `id-${nodes.length}`, name: 'n', addr: n.addr, dc: 'dc1', server, expect: 0 }),
    logger: pino({ level: 'info' }, stream),
    tls: m ? new RpcTls(m, 'dc1', 'consul') : null,
    handlers: {
      request: (method, args) => Promise.resolve({ method, args }),
      raft: (msg) => n.raft.push(msg),
      hello: (peer) => n.hellos.push(peer.server),
    },
  });
  n.addr = `127.0.0.1:${await n.net.listen('127.0.0.1', 0)}`;
  nodes.push(n);
  return n;
}

const heartbeat: Message = { type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 0, seq: 1 };

async function refusal(p: Promise<unknown>): Promise<ConsulError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConsulError);
  return err as ConsulError;
}

describe('server RPC over TLS', () => {
  it('verify_* all on: servers with server certificates talk (requests and Raft)', async () => {
    const a = await node(material(certs['server']!, ALL));
    const b = await node(material(certs['server']!, ALL));
    expect(await a.net.call(b.addr, 'Status.Ping', { x: 1 })).toEqual({
      method: 'Status.Ping',
      args: { x: 1 },
    });
    expect(a.net.sendRaft(b.addr, heartbeat)).toBe(true);
    await expect.poll(() => b.raft.length).toBe(1);
    expect(b.hellos).toEqual([true]);
    expect(b.lines.filter((l) => l.msg.startsWith('rpc: refused'))).toEqual([]);
  });

  it('refuses a plaintext client on a verify_incoming port, with one line on each side', async () => {
    const srv = await node(material(certs['server']!, ALL));
    const plain = await node(null);
    const err = await refusal(plain.net.call(srv.addr, 'Status.Ping', {}));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toContain('requires TLS');
    // Redials within the window add no more lines.
    await refusal(plain.net.call(srv.addr, 'Status.Ping', {}));
    expect(srv.lines.filter((l) => l.msg.includes('refused a plaintext connection'))).toHaveLength(1);
    expect(plain.lines.filter((l) => l.msg.includes('requires TLS'))).toHaveLength(1);
  });

  it('during a rollout (verify_incoming off) accepts plaintext and TLS clients alike', async () => {
    const srv = await node(material(certs['server']!, { verifyOutgoing: true }));
    const plain = await node(null);
    const tls = await node(material(certs['server']!, { verifyOutgoing: true }));
    expect(await plain.net.call(srv.addr, 'A', 1)).toEqual({ method: 'A', args: 1 });
    expect(await tls.net.call(srv.addr, 'B', 2)).toEqual({ method: 'B', args: 2 });
  });

  it('refuses a client certificate from another CA', async () => {
    const srv = await node(material(certs['server']!, ALL));
    const intruder = await node(material(certs['foreign']!, ALL));
    const err = await refusal(intruder.net.call(srv.addr, 'Status.Ping', {}));
    // The intruder does not trust our server either (its CA is another): it stops at once.
    expect(err.message).toContain('TLS');
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    // Trusting our CA but holding a foreign certificate: the server refuses it.
    const trusting = await node({ ...material(certs['foreign']!, ALL), ca: [ca.cert] });
    await refusal(trusting.net.call(srv.addr, 'Status.Ping', {}));
    await expect
      .poll(() => srv.lines.filter((l) => l.msg.includes('no client certificate signed by the CA')).length)
      .toBe(1);
  });

  it('refuses a server whose certificate is from another CA', async () => {
    const rogue = await node(material(certs['foreign']!, {}, otherCa));
    const a = await node(material(certs['server']!, ALL));
    const err = await refusal(a.net.call(rogue.addr, 'Status.Ping', {}));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toContain('not signed by the CA');
    expect(a.lines.filter((l) => l.msg.startsWith('rpc: cannot use server'))).toHaveLength(1);
  });

  it('verify_server_hostname: a client certificate cannot serve as a server', async () => {
    const rogue = await node(material(certs['client']!, { verifyIncoming: true }));
    const a = await node(material(certs['server']!, ALL));
    const err = await refusal(a.net.call(rogue.addr, 'Status.Ping', {}));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toContain('not valid for server.dc1.consul');
    // Without verify_server_hostname the chain alone is checked, as in Consul.
    const lax = await node(material(certs['server']!, { verifyIncoming: true, verifyOutgoing: true }));
    expect(await lax.net.call(rogue.addr, 'Status.Ping', {})).toEqual({ method: 'Status.Ping', args: {} });
  });

  it("verify_server_hostname: another datacenter's server must be server.<its dc>.<domain>", async () => {
    const dc2 = await createCert({
      kind: 'server',
      dc: 'dc2',
      domain: 'consul',
      days: 1,
      node: '',
      additionalDnsNames: [],
      additionalIps: [],
      ca,
    });
    const remote = await node(material(dc2, {}));
    const a = await node(material(certs['server']!, ALL));
    expect(await a.net.connect(remote.addr, 'dc2')).toBeDefined();
    const local = await node(material(certs['server']!, {}));
    const err = await refusal(a.net.connect(local.addr, 'dc2'));
    expect(err.message).toContain('not valid for server.dc2.consul');
  });

  it("verify_server_hostname: a client certificate's connection may ask, but never speak Raft", async () => {
    const srv = await node(material(certs['server']!, ALL));
    const client = await node(material(certs['client']!, ALL), false);
    expect(await client.net.call(srv.addr, 'Catalog.ListNodes', {})).toEqual({
      method: 'Catalog.ListNodes',
      args: {},
    });
    expect(srv.hellos).toEqual([false]);
    client.net.sendRaft(srv.addr, heartbeat);
    await expect.poll(() => srv.lines.filter((l) => l.msg.includes('refused Raft traffic')).length).toBe(1);
    expect(srv.raft).toEqual([]);
    // A client-certificate holder that claims to be a server is refused too.
    const liar = await node(material(certs['client']!, ALL), true);
    await liar.net.connect(srv.addr).catch(() => undefined);
    await expect.poll(() => srv.lines.filter((l) => l.msg.includes('refused a server hello')).length).toBe(1);
    expect(srv.hellos).toEqual([false]);
  });
});
