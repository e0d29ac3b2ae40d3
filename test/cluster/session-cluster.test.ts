// Sessions and locks on real processes: a session bound to a client agent's node loses its lock when
// that agent is killed -9 (serfHealth turns critical), the lock delay holds the key for a while
// afterwards, a delete-behaviour session's key goes; and under leader kills, LockIndex stays a
// fencing token: never two holders at one LockIndex, and it only grows.
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, type ConsulClient, type KVPair } from '../../src/client/client.js';
import { TestCluster, eventually, type ServerProc } from './harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function createSession(c: ConsulClient, body: object): Promise<string> {
  return (await c.json<{ ID: string }>('PUT', '/v1/session/create', { body: JSON.stringify(body) })).ID;
}

const acquire = (c: ConsulClient, key: string, session: string): Promise<boolean> =>
  c.json<boolean>('PUT', `/v1/kv/${key}`, { query: { acquire: session }, body: session });

async function serfPassing(from: ServerProc, node: string): Promise<boolean> {
  const checks = await from.client.json<{ CheckID: string; Status: string }[]>(
    'GET',
    `/v1/health/node/${node}`,
  );
  return checks.some((c) => c.CheckID === 'serfHealth' && c.Status === 'passing');
}

describe('sessions in a cluster', () => {
  it('releases (or deletes) the locks of sessions whose client agent is killed -9, then honours the lock delay', async () => {
    cluster = await TestCluster.start({ servers: 3, clients: 2, logLevel: 'info' });
    await cluster.waitForLeader();
    const [c1, c2] = cluster.clients as [ServerProc, ServerProc];
    const s1 = cluster.servers[0]!;
    for (const c of [c1, c2]) {
      await eventually(
        () => serfPassing(s1, c.name),
        30_000,
        `${c.name} registered with a passing serfHealth`,
      );
    }

    // Each session is created through its client agent and bound to that agent's node by default.
    const held = await createSession(c1.client, { LockDelay: '8s', Name: 'held' });
    const doomed = await createSession(c2.client, { Behavior: 'delete', LockDelay: 0 });
    const [info] = await c1.client.json<{ Node: string; NodeChecks: string[] }[]>(
      'GET',
      `/v1/session/info/${held}`,
    );
    expect(info).toMatchObject({ Node: 'client-1', NodeChecks: ['serfHealth'] });
    expect(await acquire(c1.client, 'locks/a', held)).toBe(true);
    expect(await acquire(c2.client, 'locks/d', doomed)).toBe(true);
    expect((await s1.client.kvGet('locks/a'))?.Session).toBe(held);
    // The contender for the lock after the crash, on a server's node and bound to no check.
    const next = await createSession(s1.client, { NodeChecks: [], LockDelay: 0 });

    await Promise.all([cluster.kill9(c1), cluster.kill9(c2)]);
    await eventually(
      async () => {
        const e = await s1.client.kvGet('locks/a');
        return e !== null && e.Session === undefined;
      },
      30_000,
      'the lock of the killed client to be released',
    );
    const released = Date.now();

    // Another session cannot take the key during the 8 s lock delay, and can after it.
    expect(await acquire(s1.client, 'locks/a', next)).toBe(false);
    const took = await eventually(
      async () => ((await acquire(s1.client, 'locks/a', next)) ? Date.now() : false),
      30_000,
      'the lock to be free after the lock delay',
    );
    expect(took - released).toBeGreaterThanOrEqual(4000);
    expect(await s1.client.kvGet('locks/a')).toMatchObject({ Session: next, LockIndex: 2 });

    // The delete-behaviour session's key is gone.
    await eventually(async () => (await s1.client.kvGet('locks/d')) === null, 30_000, 'locks/d deleted');
  });

  it('keeps LockIndex a fencing token while leaders are killed -9', async () => {
    cluster = await TestCluster.start({ servers: 3, logLevel: 'info' });
    await cluster.waitForLeader();
    const c = cluster;
    // A session needs its node in the catalog: wait for the leader's reconcile to register them all.
    for (const s of c.servers) {
      await eventually(() => serfPassing(c.servers[0]!, s.name), 30_000, `${s.name} registered`);
    }
    const live = (): ServerProc[] => c.servers.filter((s) => s.proc);
    let stop = false;
    const records: { lockIndex: number; holder: number; at: number }[] = [];
    const anomalies: string[] = [];

    /** Calls `fn` on some live server until it gives an answer (a killed server is skipped). */
    async function definitive<T>(who: number, fn: (cl: ConsulClient) => Promise<T>): Promise<T> {
      for (let attempt = 0; ; attempt++) {
        const servers = live();
        const s = servers[(who + attempt) % servers.length];
        try {
          if (s) return await fn(s.client);
        } catch (err) {
          if (err instanceof ApiError && err.status === 400) throw err;
        }
        await sleep(50);
      }
    }

    const contender = async (me: number): Promise<void> => {
      const session = await definitive(me, (cl) =>
        createSession(cl, { NodeChecks: [], LockDelay: 0, Name: `contender-${me}` }),
      );
      while (!stop) {
        // An acquire whose answer was lost is asked again: a holder re-acquiring gets true again.
        const ok = await definitive(me, (cl) => acquire(cl, 'fenced', session));
        if (!ok) {
          await sleep(10 + Math.random() * 30);
          continue;
        }
        const e = await definitive(me, async (cl) => {
          const r = await cl.request('GET', '/v1/kv/fenced');
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          return (JSON.parse(r.body.toString()) as KVPair[])[0]!;
        });
        if (e.Session !== session) anomalies.push(`contender ${me} acquired but the key shows ${e.Session}`);
        records.push({ lockIndex: e.LockIndex, holder: me, at: performance.now() });
        await sleep(20 + Math.random() * 30);
        const released = await definitive(me, (cl) =>
          cl.json<boolean>('PUT', '/v1/kv/fenced', { query: { release: session } }),
        );
        // false only if an earlier, lost answer had already released it: still nobody else's lock.
        void released;
      }
    };
    const runs = [0, 1, 2, 3].map((me) =>
      contender(me).catch((err: unknown) => void anomalies.push(`contender ${me} failed: ${String(err)}`)),
    );

    await sleep(3000);
    for (let kill = 0; kill < 2; kill++) {
      const leader = await c.waitForLeader(30_000);
      await c.kill9(leader);
      await c.waitForLeader(30_000);
      c.spawn(leader);
      await c.waitForLeader(30_000);
      await sleep(3000);
    }
    stop = true;
    await Promise.all(runs);

    expect(anomalies).toEqual([]);
    expect(records.length).toBeGreaterThan(20);
    const holderOf = new Map<number, number>();
    for (const r of records) {
      const h = holderOf.get(r.lockIndex);
      expect(h === undefined || h === r.holder, `LockIndex ${r.lockIndex} held by ${h} and ${r.holder}`).toBe(
        true,
      );
      holderOf.set(r.lockIndex, r.holder);
    }
    const inOrder = [...records].sort((a, b) => a.at - b.at).map((r) => r.lockIndex);
    for (let i = 1; i < inOrder.length; i++) expect(inOrder[i]!).toBeGreaterThan(inOrder[i - 1]!);
    expect(new Set(records.map((r) => r.holder)).size).toBeGreaterThan(1);
  }, 90_000);
});
