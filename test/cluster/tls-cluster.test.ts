// Three servers and a client agent with TLS on the server RPC port and verify_incoming,
// verify_outgoing and verify_server_hostname all on: the cluster forms and answers writes, and
// whatever lacks the right certificate is refused with a log line while the cluster goes on.

import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeValue } from '../../src/client/client.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-files.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';

let f: TlsFiles;
let foreign: TlsFiles;
let cluster: TestCluster;
let leader: ServerProc;

const logOf = (a: { logFile: string }): string => readFileSync(a.logFile, 'utf8');

/** A file's certificate and key as an agent's tls.defaults. */
const certOf = (p: { cert: string; key: string }): Record<string, unknown> => ({
  cert_file: p.cert,
  key_file: p.key,
});

/** Which agents get which certificate (and CA), by name. */
const assigned: Record<string, { cert: Record<string, unknown>; ca?: string }> = {};

beforeAll(async () => {
  f = await makeTlsFiles();
  foreign = await makeTlsFiles();
  assigned['intruder'] = { cert: certOf(foreign.server), ca: foreign.ca };
  assigned['impostor'] = { cert: certOf(f.client) };
  cluster = await TestCluster.start({
    servers: 3,
    clients: 1,
    extraConfig: {
      tls: {
        defaults: { ca_file: f.ca, verify_incoming: true, verify_outgoing: true },
        internal_rpc: { verify_server_hostname: true },
      },
    },
    agentConfig: (name, server) => {
      const a = assigned[name];
      const defaults = a
        ? { ...a.cert, ...(a.ca ? { ca_file: a.ca } : {}) }
        : certOf(server ? f.server : f.client);
      return { tls: { defaults } };
    },
  });
  leader = await cluster.waitForLeader(30_000);
});

afterAll(async () => {
  await cluster?.stop();
  for (const d of [f, foreign]) if (d) rmSync(d.dir, { recursive: true, force: true });
});

/** The three real servers still agree on `leader`, keep 3 peers, and take a write through the client. */
async function clusterUnaffected(key: string): Promise<void> {
  const real = cluster.agents.filter((a) => ['server-1', 'server-2', 'server-3'].includes(a.name));
  for (const s of real) {
    const l = await s.client.json<string>('GET', '/v1/status/leader');
    expect(l).toBe(`127.0.0.1:${leader.rpcPort}`);
    expect(await s.client.json<string[]>('GET', '/v1/status/peers')).toHaveLength(3);
  }
  const client = cluster.clients[0]!;
  expect(await client.client.kvPut(key, 'still here')).toBe(true);
  expect(decodeValue((await leader.client.kvGet(key))!.Value).toString()).toBe('still here');
}

describe('a TLS cluster (verify_incoming, verify_outgoing, verify_server_hostname)', () => {
  it('forms over TLS and answers writes from a server and from a client agent', async () => {
    const follower = cluster.followers(leader)[0]!;
    expect(await follower.client.kvPut('tls/from-follower', 'a')).toBe(true);
    await clusterUnaffected('tls/from-client');
    // Every server dialled with wss:// and nothing was refused.
    for (const s of cluster.servers) expect(logOf(s)).not.toMatch(/rpc: refused|cannot use server/);
  });

  it('refuses a plaintext connection to the RPC port', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${leader.rpcPort}/rpc`);
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
      ws.on('error', (err) => resolve(`error ${err.message}`));
    });
    expect(outcome).toBe('status 403');
    await eventually(
      () => Promise.resolve(/refused a plaintext connection: this server requires TLS/.test(logOf(leader))),
      5000,
      'the refusal in the log',
    );
    await clusterUnaffected('tls/after-plaintext');
  });

  it('refuses a server whose certificate is from another CA, and the cluster goes on', async () => {
    const intruder = await cluster.add('intruder', true);
    cluster.spawn(intruder);
    // It joins the gossip pool (gossip has no TLS), but the leader will not add it to Raft.
    const refusal = new RegExp(
      `cannot use server 127\\.0\\.0\\.1:${intruder.rpcPort}: its certificate is not signed by the CA`,
    );
    await eventually(
      () => Promise.resolve(refusal.test(logOf(leader))),
      20_000,
      "the leader's refusal of the intruder",
    );
    await clusterUnaffected('tls/after-intruder');
    await cluster.kill9(intruder);
  });

  it('verify_server_hostname: a client certificate cannot make an agent a server', async () => {
    const impostor = await cluster.add('impostor', true);
    cluster.spawn(impostor);
    // The leader will not add it to Raft: its certificate is not valid for server.dc1.consul.
    await eventually(
      () => Promise.resolve(/not valid for server\.dc1\.consul/.test(logOf(leader))),
      20_000,
      "the leader's refusal of the impostor",
    );
    await clusterUnaffected('tls/after-impostor');
    const cfg = await leader.client.json<{ Servers: { Node: string }[] }>(
      'GET',
      '/v1/operator/raft/configuration',
    );
    expect(cfg.Servers.map((s) => s.Node).sort()).toEqual(['server-1', 'server-2', 'server-3']);
    await cluster.kill9(impostor);
  });
});
