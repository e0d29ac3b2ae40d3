// Deterministic simulations of gossip clusters (SWIM + Lifeguard + serf-like events and queries)
// under loss, delay, reordering, partitions, kills, restarts, stalls and slow members. Each seed fixes
// everything; a failure prints its seed. Replay one with
//   GOSSIP_SEED=<seed> npx vitest run test/sim/gossip.test.ts -t "<test name>"
// and soak with GOSSIP_SEEDS=<n> (n seeds per scenario).
// Times below are simulated milliseconds at Consul's LAN timings (probe every 1 s).
import { describe, expect, it } from 'vitest';
import { lanTimings } from '../../src/gossip/types.js';
import {
  GossipSim,
  defaultGossipSimOptions,
  isUp,
  replayHint,
  startCluster,
  type GossipSimOptions,
  type SimNode,
} from './gossip-harness.js';

const only = process.env['GOSSIP_SEED'];
/** GOSSIP_SEEDS=n runs every scenario over n seeds instead of its defaults (a longer soak). */
const many = Number(process.env['GOSSIP_SEEDS'] ?? 0);
const PROBE = lanTimings.probeIntervalMs;
/** Per test: generous, since a soak runs many seeds (vitest's default is 60 s). */
const TIMEOUT = Math.max(1, many / 2) * 60_000;

function seeds(defaults: number[]): number[] {
  if (only) return [Number(only)];
  const first = defaults[0] ?? 1;
  return many > 0 ? Array.from({ length: many }, (_, i) => first + i * 100) : defaults;
}

function sim(seed: number, over: Partial<GossipSimOptions> = {}): GossipSim {
  return new GossipSim({ ...defaultGossipSimOptions, timings: lanTimings, ...over, seed });
}

/** Runs `fn` for one seed; any failure is reported with the seed and how to replay it. */
function withSeed<T>(seed: number, test: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new Error(`seed ${seed}: ${(err as Error).message}\n  ${replayHint(seed, test)}`, { cause: err });
  }
}

function report(line: string): void {
  console.log(`[gossip sim] ${line}`);
}

function pick<T>(s: GossipSim, xs: T[]): T {
  return xs[s.rng.int(xs.length)] as T;
}

function sum(nodes: SimNode[], counter: string): number {
  return nodes.reduce((acc, n) => acc + (n.core?.counters[counter] ?? 0), 0);
}

describe('gossip simulation', () => {
  const T1 = '52 members at 10% loss join through one member, converge, and detect a kill';
  it(
    T1,
    () => {
      for (const seed of seeds([11, 12])) {
        withSeed(seed, T1, () => {
          const s = sim(seed, { forbidFalseFailures: true });
          const nodes = startCluster(s, 52);
          const converged = s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          s.run(10_000);
          const victim = pick(s, nodes.slice(1));
          s.kill(victim);
          const killedAt = s.now;
          const allFailed = s.runUntil(
            `every member marks ${victim.name} failed`,
            () => s.allSee(victim.name, (m) => m?.status === 'failed'),
            60_000,
            50,
          );
          const first = s
            .outputsOf('member')
            .find((o) => o.out.event === 'failed' && o.out.member.name === victim.name && o.at >= killedAt);
          report(
            `seed ${seed}: 52 members converged in ${converged} ms; ${victim.name} killed: first marked failed after ${((first?.at ?? NaN) - killedAt).toFixed(0)} ms, by all after ${allFailed} ms`,
          );
          // Gossip spreads a join within seconds; stragglers that missed every retransmission are
          // caught by push/pull (every 60 s at this size).
          expect(converged).toBeLessThan(60_000);
          // Suspicion timeout at 52 members: 4 * log10(52) s = 6.9 s once confirmed, at most 41 s.
          expect(allFailed).toBeLessThan(20_000);
          expect(s.stats.packetsLost).toBeGreaterThan(0);
        });
      }
    },
    TIMEOUT,
  );

  const TJ = '50 members with Consul-sized tags joining one member at once converge within a second or two';
  it(
    TJ,
    () => {
      // The benchmark's join (every member told to join member 0 at the same moment), here without
      // loss and on simulated time, so it measures the protocol and not the machine. Consul's serf
      // tags make each alive message about three times bigger than bare memberlist's, so fewer fit
      // a packet: news must go out in prompt rounds while it is backlogged, and the settling
      // push/pull after a join must repair what the retransmit limit let a member miss.
      const tags = {
        dc: 'dc1',
        segment: '',
        vsn: '2',
        vsn_min: '2',
        vsn_max: '3',
        build: '0.1.0:consulate',
        port: '8300',
        expect: '3',
        node_id: '3f0c2a9e-5b1d-4e7a-9c2b-8d6f1e0a7b45',
      };
      const times: number[] = [];
      for (const seed of seeds([31, 32, 33, 34, 35])) {
        withSeed(seed, TJ, () => {
          const s = sim(seed, { tags, lossRate: 0, minDelayMs: 0.1, maxDelayMs: 1 });
          startCluster(s, 50, 0);
          const t = s.runUntil('convergence', () => s.joined() && s.converged(), 60_000, 10);
          times.push(t);
          // memberlist's plain tick-driven gossip took 2-3 s here, and 10-30 s whenever a member
          // missed a join and waited for a periodic push/pull.
          expect(t).toBeLessThan(2 * lanTimings.probeIntervalMs);
        });
      }
      report(`50 members with tags converged in ${times.join(', ')} ms (simulated)`);
    },
    TIMEOUT,
  );

  const T2 = 'no running member is ever declared failed: 50 members, 10% loss, 10 simulated minutes';
  it(
    T2,
    () => {
      for (const seed of seeds([21, 22, 23])) {
        withSeed(seed, T2, () => {
          // forbidFalseFailures checks every 'failed' output as it happens, and every view each second.
          const s = sim(seed, { forbidFalseFailures: true });
          const nodes = startCluster(s, 50);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          s.run(600_000);
          s.checkViews();
          const suspicions = sum(nodes, 'suspicions');
          const refutes = sum(nodes, 'refutes');
          report(
            `seed ${seed}: 10 min, ${s.stats.packetsSent} packets (${s.stats.packetsLost} lost), ${refutes} refutations of ${suspicions} suspicions, 0 false failures`,
          );
          // Not vacuous: loss did cause suspicions, and refutations cleared every one of them.
          expect(suspicions).toBeGreaterThan(0);
          expect(refutes).toBeGreaterThan(0);
          expect(s.outputsOf('member').filter((o) => o.out.event === 'failed')).toEqual([]);
        });
      }
    },
    TIMEOUT,
  );

  const T3 = 'a member stalled for two probe intervals, again and again, is never declared failed';
  it(
    T3,
    () => {
      for (const seed of seeds([31, 32])) {
        withSeed(seed, T3, () => {
          const s = sim(seed, { forbidFalseFailures: true });
          const nodes = startCluster(s, 20);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          let suspectedWhileStalled = 0;
          for (let round = 0; round < 12; round++) {
            const victim = pick(s, nodes);
            s.stall(victim, 2 * PROBE);
            s.run(2 * PROBE);
            if (s.live().some((v) => v !== victim && v.core?.member(victim.name)?.status === 'suspect')) {
              suspectedWhileStalled++;
            }
            s.run(8000);
          }
          s.run(60_000);
          report(
            `seed ${seed}: 12 stalls of ${2 * PROBE} ms; suspected during ${suspectedWhileStalled}, never failed`,
          );
          // The stalls did get noticed (so refutation after waking was what saved the member).
          expect(suspectedWhileStalled).toBeGreaterThan(0);
          expect(s.outputsOf('member').filter((o) => o.out.event === 'failed')).toEqual([]);
        });
      }
    },
    TIMEOUT,
  );

  const T4 = 'a partition long enough to mark the other half failed heals into one pool';
  it(
    T4,
    () => {
      for (const seed of seeds([41])) {
        withSeed(seed, T4, () => {
          const s = sim(seed);
          const nodes = startCluster(s, 50);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          const a = nodes.slice(0, 25);
          const b = nodes.slice(25);
          s.partition([a.map((n) => n.name), b.map((n) => n.name)]);
          const split = s.runUntil(
            'each half marks the other failed',
            () =>
              a.every((v) => b.every((m) => v.core?.member(m.name)?.status === 'failed')) &&
              b.every((v) => a.every((m) => v.core?.member(m.name)?.status === 'failed')),
            180_000,
            200,
          );
          // Stay apart past gossipToTheDead (30 s), so only reconnects and push/pull can merge them.
          s.run(lanTimings.gossipToTheDeadMs + 5000);
          s.heal();
          const merged = s.runUntil('the halves merge', () => s.converged(), 180_000, 200);
          report(
            `seed ${seed}: halves of 25 marked each other failed after ${split} ms; merged ${merged} ms after heal`,
          );
          expect(merged).toBeLessThan(120_000);
          // The merge came back through 'join' events for the members once thought failed.
          const rejoined = s
            .outputsOf('member')
            .filter((o) => o.out.event === 'join' && o.at >= s.now - merged);
          expect(rejoined.length).toBeGreaterThanOrEqual(2 * 25 * 25);
        });
      }
    },
    TIMEOUT,
  );

  const T5 = 'a restarted member (same name and id, new address) is taken at once; a different id is refused';
  it(
    T5,
    () => {
      for (const seed of seeds([51, 52, 53])) {
        withSeed(seed, T5, () => {
          const s = sim(seed);
          const nodes = startCluster(s, 30);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          const x = pick(s, nodes.slice(1));
          const oldHost = x.host;
          s.kill(x);
          s.run(100);
          s.restart(x);
          s.join(
            x,
            pick(
              s,
              s.live().filter((n) => n !== x),
            ),
          );
          // Its join push/pull may be lost (and retried, as retry_join does): until one gets through,
          // nobody can hear of the new address. From then on, gossip must be quick.
          const joined = s.runUntil(`${x.name} joins`, () => !x.joining, 30_000, 10);
          const took = s.runUntil(
            `${x.name} alive everywhere at its new address`,
            () => s.allSee(x.name, (m) => isUp(m) && m?.addr === x.host),
            30_000,
            20,
          );
          report(
            `seed ${seed}: ${x.name} restarted ${oldHost} -> ${x.host}, joined after ${joined} ms, then alive there everywhere after ${took} ms`,
          );
          expect(took).toBeLessThanOrEqual(5 * PROBE);
          s.run(30_000);
          expect(s.allSee(x.name, (m) => isUp(m) && m?.addr === x.host)).toBe(true);
          // Nobody declared it failed in between: the refutation beat every suspicion of the old address.
          const failedX = s
            .outputsOf('member')
            .filter((o) => o.out.member.name === x.name && o.out.event === 'failed');
          expect(failedX).toEqual([]);

          // An impostor: same name as a running member, another node ID, another address.
          const victim = pick(
            s,
            s.live().filter((n) => n !== nodes[0]),
          );
          const via = pick(
            s,
            s.live().filter((n) => n !== victim),
          );
          const logsBefore = s.observed.length;
          const impostor = s.add(victim.name, 'impostor-id');
          s.join(impostor, via);
          s.run(20_000);
          const others = s.live().filter((n) => n !== impostor && n !== victim);
          for (const v of others) {
            const seen = v.core?.member(victim.name);
            expect(seen?.addr, `${v.name}'s view of ${victim.name}`).toBe(victim.host);
            expect(seen?.tags['id']).toBe(victim.id);
            expect(isUp(seen)).toBe(true);
          }
          const warns = s.observed
            .slice(logsBefore)
            .filter(
              (o) =>
                o.out.type === 'log' &&
                o.out.level === 'warn' &&
                o.out.msg.startsWith('member name conflict'),
            );
          expect(warns.length).toBeGreaterThan(0);
          // Rate-limited: at most one warning per name per member per 10 s.
          const lastWarn = new Map<string, number>();
          for (const w of warns) {
            const prev = lastWarn.get(w.by);
            if (prev !== undefined) expect(w.at - prev).toBeGreaterThanOrEqual(10_000);
            lastWarn.set(w.by, w.at);
          }
          report(
            `seed ${seed}: impostor for ${victim.name} refused by all; ${warns.length} conflict warnings`,
          );

          // Once the original is dead, the new node (new ID) may take the name.
          s.kill(victim);
          const taken = s.runUntil(
            `the new ${victim.name} is taken everywhere`,
            () =>
              s.allSee(
                victim.name,
                (m) => isUp(m) && m?.tags['id'] === 'impostor-id' && m.addr === impostor.host,
              ),
            120_000,
            200,
          );
          report(
            `seed ${seed}: after ${victim.name} died, the new node took its name everywhere in ${taken} ms`,
          );
        });
      }
    },
    TIMEOUT,
  );

  const T6 =
    'a graceful leave is seen as left (never failed) everywhere; forceLeave turns failed into left, and -prune is forgotten everywhere';
  it(
    T6,
    () => {
      for (const seed of seeds([61, 62])) {
        withSeed(seed, T6, () => {
          const s = sim(seed);
          const nodes = startCluster(s, 20);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          const leaver = pick(s, nodes.slice(1));
          s.leave(leaver);
          const leftAt = s.now;
          const seen = s.runUntil(
            `every member sees ${leaver.name} left`,
            () => s.allSee(leaver.name, (m) => m?.status === 'left'),
            10_000,
            20,
          );
          // Like Consul, the process stays up a moment for the news to spread, then exits.
          s.run(1000);
          s.kill(leaver);
          s.run(60_000);
          expect(s.allSee(leaver.name, (m) => m?.status === 'left')).toBe(true);
          const aboutLeaver = s
            .outputsOf('member')
            .filter((o) => o.out.member.name === leaver.name && o.at >= leftAt && o.by !== leaver.name);
          expect(aboutLeaver.map((o) => o.out.event).filter((e) => e !== 'leave')).toEqual([]);
          expect(new Set(aboutLeaver.map((o) => o.by)).size).toBe(s.live().length);

          const gone = pick(
            s,
            s.live().filter((n) => n !== nodes[0]),
          );
          s.kill(gone);
          s.runUntil(
            `every member marks ${gone.name} failed`,
            () => s.allSee(gone.name, (m) => m?.status === 'failed'),
            60_000,
          );
          const operator = pick(s, s.live());
          const alive = pick(
            s,
            s.live().filter((n) => n !== operator),
          );
          expect(s.act(operator, (c, now) => c.forceLeave('no-such-member', now))).toBe(false);
          expect(s.act(operator, (c, now) => c.forceLeave(alive.name, now))).toBe(false);
          expect(s.act(operator, (c, now) => c.forceLeave(gone.name, now))).toBe(true);
          const forced = s.runUntil(
            `every member sees ${gone.name} left`,
            () => s.allSee(gone.name, (m) => m?.status === 'left'),
            10_000,
            20,
          );
          // -prune spreads too: every member forgets the member at once (a failed one, and one
          // already left), long before the tombstone timeout, and no push/pull brings it back.
          const dropped = pick(
            s,
            s.live().filter((n) => n !== operator),
          );
          s.kill(dropped);
          s.runUntil(
            `every member marks ${dropped.name} failed`,
            () => s.allSee(dropped.name, (m) => m?.status === 'failed'),
            60_000,
          );
          expect(s.act(operator, (c, now) => c.forceLeave(dropped.name, now, true))).toBe(true);
          expect(s.act(operator, (c, now) => c.forceLeave(leaver.name, now, true))).toBe(true);
          const pruned = s.runUntil(
            `every member forgets ${dropped.name} and ${leaver.name}`,
            () =>
              s.allSee(dropped.name, (m) => m === undefined) && s.allSee(leaver.name, (m) => m === undefined),
            10_000,
            20,
          );
          s.run(120_000);
          expect(s.allSee(dropped.name, (m) => m === undefined)).toBe(true);
          expect(s.allSee(leaver.name, (m) => m === undefined)).toBe(true);
          expect(s.allSee(gone.name, (m) => m?.status === 'left')).toBe(true);

          report(
            `seed ${seed}: leave seen everywhere after ${seen} ms; force-leave after ${forced} ms; prune after ${pruned} ms`,
          );
          expect(seen).toBeLessThanOrEqual(3 * PROBE);
          expect(forced).toBeLessThanOrEqual(3 * PROBE);
          expect(pruned).toBeLessThanOrEqual(3 * PROBE);
        });
      }
    },
    TIMEOUT,
  );

  const T7 = 'user events reach every member exactly once and queries collect every response, at 10% loss';
  it(
    T7,
    () => {
      for (const seed of seeds([71, 72])) {
        withSeed(seed, T7, () => {
          const s = sim(seed);
          const nodes = startCluster(s, 50);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          const ids: string[] = [];
          for (let i = 0; i < 10; i++) {
            const from = pick(s, nodes);
            const id = `ev-${seed}-${i}`;
            s.act(from, (c, now) => c.fireEvent('deploy', new TextEncoder().encode(`payload ${i}`), id, now));
            ids.push(id);
            s.run(100);
          }
          const queries: { origin: SimNode; id: number }[] = [];
          for (let i = 0; i < 3; i++) {
            const origin = pick(s, nodes);
            const id = s.act(origin, (c, now) => c.query('ping', new Uint8Array([i]), now));
            queries.push({ origin, id });
            s.run(200);
          }
          s.run(10_000);
          const users = s.outputsOf('user');
          for (const n of nodes) {
            const got = users.filter((o) => o.by === n.name).map((o) => o.out.event.id);
            expect(got.sort(), `events at ${n.name}`).toEqual([...ids].sort());
          }
          for (const q of queries) {
            const got = s
              .outputsOf('queryResponse')
              .filter((o) => o.by === q.origin.name && o.out.id === q.id)
              .map((o) => o.out.from);
            expect(got.sort(), `responses to ${q.origin.name}'s query`).toEqual(
              nodes.map((n) => n.name).sort(),
            );
          }
          const dups = sum(nodes, 'events.duplicate');
          report(
            `seed ${seed}: 10 events x 50 members delivered once each (${dups} duplicates dropped); 3 queries answered by all 50`,
          );
          expect(dups).toBeGreaterThan(0);
        });
      }
    },
    TIMEOUT,
  );

  const T8 = 'Lifeguard: a member that handles its input late raises its awareness and fails nobody else';
  it(
    T8,
    () => {
      /** Runs the scenario; returns what the slow member did, and who was declared failed. */
      const scenario = (seed: number, awarenessMaxMultiplier: number) => {
        const s = sim(seed, { timings: { ...lanTimings, awarenessMaxMultiplier } });
        const nodes = startCluster(s, 20);
        s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
        const slow = pick(s, nodes);
        // Every packet and stream reply reaches it 1.5 s late: longer than a whole probe interval,
        // so at first every one of its probes fails.
        slow.inboundDelayMs = 1.5 * PROBE;
        const counter = (k: string): number => slow.core?.counters[k] ?? 0;
        const [probes0, failed0] = [counter('probes'), counter('probes.failed')];
        let maxScore = 0;
        for (let i = 0; i < 180; i++) {
          s.run(1000);
          maxScore = Math.max(maxScore, slow.core?.healthScore() ?? 0);
        }
        const probes = counter('probes') - probes0;
        const blamed = counter('probes.failed') - failed0;
        slow.inboundDelayMs = 0;
        s.run(120_000);
        const failures = s.outputsOf('member').filter((o) => o.out.event === 'failed');
        return {
          s,
          slow,
          maxScore,
          probes,
          blamed,
          recovered: slow.core?.healthScore() ?? -1,
          othersFailed: failures.filter((o) => o.out.member.name !== slow.name),
          slowFailed: failures.filter((o) => o.out.member.name === slow.name).length,
        };
      };
      for (const seed of seeds([81, 82])) {
        withSeed(seed, T8, () => {
          const on = scenario(seed, lanTimings.awarenessMaxMultiplier);
          const off = scenario(seed, 1);
          report(
            `seed ${seed}: slow ${on.slow.name} reached awareness ${on.maxScore}; in 180 s it probed ${on.probes} times and blamed ${on.blamed} members (without Lifeguard: ${off.probes} and ${off.blamed}); score ${on.recovered} after recovering; itself declared failed ${on.slowFailed} times (a member that answers 1.5 s late is unresponsive)`,
          );
          expect(on.maxScore).toBeGreaterThanOrEqual(3);
          // Scaled probe intervals and timeouts: the slow member blames far fewer healthy members.
          expect(on.probes).toBeLessThan(off.probes / 2);
          expect(on.blamed).toBeLessThan(off.blamed / 2);
          expect(on.recovered).toBeLessThanOrEqual(1);
          expect(on.othersFailed).toEqual([]);
          // Once it keeps up again, it is alive everywhere.
          expect(on.s.allSee(on.slow.name, (m) => m?.status === 'alive')).toBe(true);
        });
      }
    },
    TIMEOUT,
  );

  const T9 = 'UDP blocked but TCP open: the member is kept alive by the TCP fallback, with a warning';
  it(
    T9,
    () => {
      for (const seed of seeds([91])) {
        withSeed(seed, T9, () => {
          const s = sim(seed, { forbidFalseFailures: true, lossRate: 0 });
          const nodes = startCluster(s, 20);
          s.runUntil('convergence', () => s.joined() && s.converged(), 120_000, 100);
          const walled = pick(s, nodes);
          s.blockUdp(walled);
          s.run(180_000);
          const warnings = s
            .outputsOf('log')
            .filter((o) => o.out.level === 'warn' && o.out.msg.includes('over TCP but UDP probes failed'));
          report(
            `seed ${seed}: ${walled.name} behind a UDP-dropping firewall for 180 s: never failed, ${warnings.length} warnings`,
          );
          expect(warnings.length).toBeGreaterThan(0);
          expect(s.allSee(walled.name, (m) => m?.status === 'alive')).toBe(true);
          expect(s.outputsOf('member').filter((o) => o.out.event === 'failed')).toEqual([]);
        });
      }
    },
    TIMEOUT,
  );

  it('replays a seed exactly', () => {
    const trace = (): string => {
      const s = sim(5);
      const nodes = startCluster(s, 12);
      s.run(5000);
      s.kill(nodes[3] as SimNode);
      s.run(20_000);
      return JSON.stringify({ stats: s.stats, observed: s.observed.map((o) => [o.at, o.by, o.out]) });
    };
    expect(trace()).toEqual(trace());
  });
});
