// Snapshots between real clusters: `consulate snapshot save` through the client agent of a
// one-server cluster, restored with `consulate snapshot restore` through a follower of a new
// three-server cluster; every server of the new cluster then holds the same keys, nodes, services, checks, sessions and prepared
// queries, compared entry by entry with ?stale reads of each. A damaged archive sent first is
// refused with a 400 and leaves every server as it was.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConsulClient } from '../../src/client/client.js';
import { verifySnapshot } from '../../src/snapshot/state.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');

const clusters: TestCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

/** What is compared on every server, each read from that server's own state (?stale). */
const READS = [
  '/v1/kv/?recurse',
  '/v1/catalog/node/ext-1',
  '/v1/catalog/node/ext-2',
  '/v1/catalog/service/web',
  '/v1/health/node/ext-1',
  '/v1/health/node/ext-2',
  '/v1/session/list',
  '/v1/query',
];

async function readAll(c: ConsulClient): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const path of READS) {
    const r = await c.request('GET', path, { query: { stale: true } });
    out[path] = r.status === 200 ? JSON.parse(r.body.toString('utf8')) : r.status;
  }
  return out;
}

const put = (c: ConsulClient, path: string, body: unknown): Promise<unknown> =>
  c.json('PUT', path, { body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('snapshot save and restore between clusters', () => {
  it('restores one cluster into a new one on every server, after refusing a damaged archive', async () => {
    const [source, target] = await Promise.all([
      TestCluster.start({ servers: 1, clients: 1, logLevel: 'info' }),
      TestCluster.start({ servers: 3, logLevel: 'info' }),
    ]);
    clusters.push(source, target);
    const [srcLeader, dstLeader] = await Promise.all([
      source.waitForLeader(30_000),
      target.waitForLeader(30_000),
    ]);
    const src = srcLeader.client;

    for (let i = 0; i < 50; i++) await src.kvPut(`app/key-${String(i).padStart(2, '0')}`, `value ${i}`);
    await src.kvPut('app/flagged', 'f', { flags: 7 });
    for (const [node, port] of [
      ['ext-1', 80],
      ['ext-2', 81],
    ] as const) {
      await put(src, '/v1/catalog/register', {
        Node: node,
        Address: `10.0.0.${port}`,
        Service: { ID: `web-${port}`, Service: 'web', Tags: [node], Port: port },
        Checks: [
          { CheckID: `web-${port}-http`, Name: 'http', Status: 'passing', ServiceID: `web-${port}` },
          { CheckID: 'mem', Name: 'mem', Status: 'warning' },
        ],
      });
    }
    const { ID: session } = (await put(src, '/v1/session/create', {
      Node: 'ext-1',
      NodeChecks: [],
      TTL: '120s',
    })) as { ID: string };
    expect(await src.json('PUT', '/v1/kv/locks/job', { query: { acquire: session }, body: 'x' })).toBe(true);
    await src.json('POST', '/v1/query', {
      body: JSON.stringify({ Name: 'web', Service: { Service: 'web' } }),
    });
    const want = await readAll(src);

    // Saved by the CLI, as an operator would.
    const file = join(source.root, 'backup.snap');
    const saved = await run(process.execPath, [
      BIN,
      'snapshot',
      'save',
      `-http-addr=${srcLeader.http}`,
      file,
    ]);
    expect(saved.stdout).toMatch(/^Saved and verified snapshot to index \d+\n$/);
    const savedIndex = Number(/index (\d+)/.exec(saved.stdout)?.[1]);
    expect(savedIndex).toBeGreaterThan(50);

    // The target has state of its own; a follower takes the requests (and forwards them).
    const follower = target.followers(dstLeader)[0] as ServerProc;
    await follower.client.kvPut('target/own', 'mine');
    await eventually(async () => {
      const all = await Promise.all(target.servers.map((s) => s.client.kvGet('target/own', { stale: true })));
      return all.every((e) => e !== null);
    });
    const before = await Promise.all(target.servers.map((s) => readAll(s.client)));

    const archive = readFileSync(file);
    const tar = Uint8Array.from(gunzipSync(archive));
    tar[512 * 3 + 7]! ^= 0x10; // a byte of state.bin
    const refused = await follower.client.request('PUT', '/v1/snapshot', { body: gzipSync(tar) });
    expect(refused.status).toBe(400);
    expect(refused.body.toString()).toMatch(/hash check failed for "state.bin"/);
    expect(await Promise.all(target.servers.map((s) => readAll(s.client)))).toEqual(before);

    const restored = await run(process.execPath, [
      BIN,
      'snapshot',
      'restore',
      `-http-addr=${follower.http}`,
      file,
    ]);
    expect(restored.stdout).toBe('Restored snapshot\n');

    // Every server of the new cluster took it through Raft.
    for (const s of target.servers) {
      await eventually(
        async () => JSON.stringify(await readAll(s.client)) === JSON.stringify(want),
        15_000,
        `${s.name} restored`,
      );
      expect(await readAll(s.client)).toEqual(want);
      expect(await s.client.kvGet('target/own', { stale: true })).toBeNull();
    }
    expect((want['/v1/kv/?recurse'] as unknown[]).length).toBe(52);

    // The leader brings the catalog back in line with its own gossip pool: its servers registered
    // under their own node IDs (the snapshot's server-1 was another cluster's), the source's client
    // agent, no member here, reaped.
    for (const s of target.servers) {
      const self = await s.client.json<{ Config: { NodeID: string } }>('GET', '/v1/agent/self');
      await eventually(
        async () => {
          const r = await dstLeader.client.request('GET', `/v1/catalog/node/${s.name}`);
          const node =
            r.status === 200 ? (JSON.parse(r.body.toString()) as { Node: { ID: string } } | null) : null;
          return node?.Node.ID === self.Config.NodeID;
        },
        15_000,
        `${s.name} registered as itself`,
      );
    }
    await eventually(
      async () =>
        (await dstLeader.client.request('GET', '/v1/catalog/node/client-1')).body.toString() === 'null',
      15_000,
      "the source's client agent reaped",
    );

    // A follower serves a snapshot of its own state with ?stale, and forwards to the leader without.
    for (const stale of [true, false]) {
      const r = await follower.client.request('GET', '/v1/snapshot', { query: { stale } });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-consul-effective-consistency')).toBe(stale ? 'stale' : 'leader');
      expect((await verifySnapshot(r.body)).data.kv.keys).toHaveLength(52);
    }

    // Writes after the restore get indexes past everything the snapshot held.
    await dstLeader.client.kvPut('after', 'restore');
    const after = await dstLeader.client.kvGet('after');
    expect(after?.ModifyIndex).toBeGreaterThan(savedIndex);
  });
});
