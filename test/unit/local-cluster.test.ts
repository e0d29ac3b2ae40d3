// The two-datacenter cluster `npm start` brings up: its config files describe agents that can all
// run on one loopback address at once, and the wait loop judges readiness from what it observed.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { progressLine, readSpecs, ready, type Readiness } from '../../src/cli/commands/local-cluster.js';

const DIR = join(import.meta.dirname, '../../dc-configs');

/** Every port number a config file names (ports.* for agents and gateways). */
function portsOf(file: string): number[] {
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { ports?: Record<string, number> };
  return Object.values(cfg.ports ?? {}).filter((p) => p > 0);
}

describe('dc-configs', () => {
  const specs = readSpecs(DIR);

  it('describes two datacenters of three servers, one client and one gateway each', () => {
    for (const dc of ['dc1', 'dc2']) {
      const kinds = specs.filter((s) => s.dc === dc).map((s) => s.kind);
      expect(kinds.filter((k) => k === 'server')).toHaveLength(3);
      expect(kinds.filter((k) => k === 'client')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'gateway')).toHaveLength(1);
    }
    expect([...new Set(specs.map((s) => s.dc))]).toEqual(['dc1', 'dc2']);
  });

  it('gives every listener of every process its own port on 127.0.0.1', () => {
    const all: number[] = [];
    for (const dc of readdirSync(DIR)) {
      for (const f of readdirSync(join(DIR, dc))) all.push(...portsOf(join(DIR, dc, f)));
    }
    const dupes = all.filter((p, i) => all.indexOf(p) !== i);
    expect(dupes).toEqual([]);
    expect(all.length).toBeGreaterThan(30);
  });

  it('puts every server in the WAN pool, and no client', () => {
    expect(specs.filter((s) => s.kind === 'server').every((s) => s.wan)).toBe(true);
    expect(specs.filter((s) => s.kind !== 'server').some((s) => s.wan)).toBe(false);
  });
});

describe('readiness', () => {
  const base = (): Readiness => ({
    leaders: { dc1: true, dc2: true },
    wanSeen: { dc1: 6, dc2: 6 },
    wanExpected: 6,
    gateways: { 'dc1-gateway': 2, 'dc2-gateway': 2 },
    dcs: 2,
  });

  it('is ready only with both leaders, the whole WAN pool and every gateway seeing both DCs', () => {
    expect(ready(base())).toBe(true);
    expect(ready({ ...base(), leaders: { dc1: true, dc2: false } })).toBe(false);
    expect(ready({ ...base(), wanSeen: { dc1: 6, dc2: 5 } })).toBe(false);
    expect(ready({ ...base(), gateways: { 'dc1-gateway': 2, 'dc2-gateway': 1 } })).toBe(false);
  });

  it('shows what it still waits for', () => {
    const line = progressLine(
      { ...base(), leaders: { dc1: true, dc2: false }, wanSeen: { dc1: 3, dc2: 4 } },
      2500,
    );
    expect(line).toBe('waiting: dc1 leader ok · dc2 leader ... · WAN 3/6 servers · gateways 2/2 (2.5 s)');
  });
});
