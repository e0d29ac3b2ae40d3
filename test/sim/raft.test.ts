// Deterministic simulation of Raft clusters under faults. Each seed fixes everything: timeouts,
// message loss and delays, partitions, crashes. A failure prints its seed; replay one with
//   SIM_SEED=<seed> npx vitest run test/sim/raft.test.ts
import { describe, expect, it } from 'vitest';
import { checkHistory } from '../support/linearizability.js';
import { Simulation, defaultSimOptions, type SimOptions } from './harness.js';

const only = process.env['SIM_SEED'];
const SEEDS = Number(process.env['SIM_SEEDS'] ?? 500);

function runSeed(
  seed: number,
  over: Partial<SimOptions> = {},
): { committed: number; ops: number; leaders: number } {
  const servers = seed % 2 === 0 ? 3 : 5;
  const opts: SimOptions = { ...defaultSimOptions, servers, ...over, seed };
  const sim = new Simulation(opts);
  let result;
  try {
    result = sim.run();
  } catch (err) {
    throw new Error(
      `seed ${seed} (${servers} servers) failed: ${(err as Error).message}\n  replay: SIM_SEED=${seed} npx vitest run test/sim/raft.test.ts`,
      { cause: err },
    );
  }
  const lin = checkHistory(result.ops, { timeoutMs: 20_000 });
  if (lin.result !== 'ok') {
    throw new Error(
      `seed ${seed}: history is ${lin.result} on key ${lin.key}: ${lin.message}\n  faults: ${result.faults.join(' | ')}\n  replay: SIM_SEED=${seed} npx vitest run test/sim/raft.test.ts`,
    );
  }
  return { committed: result.committed, ops: result.ops.length, leaders: result.leaders };
}

describe('raft simulation', () => {
  it(`keeps every invariant and a linearizable history over ${only ? `seed ${only}` : `${SEEDS} seeds`}`, () => {
    const seeds = only ? [Number(only)] : Array.from({ length: SEEDS }, (_, i) => i + 1);
    let committed = 0;
    let ops = 0;
    let elections = 0;
    for (const seed of seeds) {
      const r = runSeed(seed);
      committed += r.committed;
      ops += r.ops;
      elections += r.leaders;
    }
    // The runs must have done real work: faults that stall everything would pass vacuously.
    expect(committed / seeds.length).toBeGreaterThan(50);
    expect(ops / seeds.length).toBeGreaterThan(50);
    expect(elections / seeds.length).toBeGreaterThan(1.5);
  }, 600_000);

  it('replays a seed exactly', () => {
    const a = new Simulation({ ...defaultSimOptions, seed: 42, servers: 3 }).run();
    const b = new Simulation({ ...defaultSimOptions, seed: 42, servers: 3 }).run();
    expect(b.ops).toEqual(a.ops);
    expect(b.finalState).toEqual(a.finalState);
  });

  it('runs fault-free with one leader and every op acknowledged', () => {
    const r = new Simulation({
      ...defaultSimOptions,
      seed: 7,
      servers: 5,
      faultEveryMs: 0,
      lossRate: 0,
      dupRate: 0,
    }).run();
    expect(r.leaders).toBe(1);
    expect(r.ops.every((o) => o.outcome !== 'info')).toBe(true);
    expect(checkHistory(r.ops).result).toBe('ok');
  });

  it('catches stale reads when a leader answers without its lease (the checker is not vacuous)', () => {
    let caught = 0;
    for (let seed = 1; seed <= 40 && caught === 0; seed++) {
      const r = new Simulation({
        ...defaultSimOptions,
        seed,
        servers: 3,
        unsafeReads: true,
        faultEveryMs: 400,
      }).run();
      if (checkHistory(r.ops, { timeoutMs: 20_000 }).result === 'illegal') caught++;
    }
    expect(caught).toBeGreaterThan(0);
  });
});
