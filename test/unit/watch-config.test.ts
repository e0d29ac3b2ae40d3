// The `watches` config block: Consul's keys load into checked plans; a bad plan is one line, exit 1.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../src/config/load.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');
const dir = mkdtempSync(join(tmpdir(), 'consulate-watchcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, obj: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(obj));
  return p;
}

describe('the watches config block', () => {
  it("loads Consul's watch plans from config files, appending across files", () => {
    const a = file('a.json', {
      watches: [
        { type: 'key', key: 'app/config', args: ['/usr/local/bin/reload.sh'] },
        { type: 'service', service: 'web', tag: ['blue'], passingonly: true, handler: 'echo changed' },
      ],
    });
    const b = file('b.json', {
      watches: [
        {
          type: 'checks',
          state: 'critical',
          datacenter: 'dc2',
          token: 'secret',
          handler_type: 'http',
          http_handler_config: { path: 'https://alerts.example/hook', header: { 'X-Team': ['ops'] } },
        },
      ],
    });
    const c = loadAgentConfig([`-config-file=${a}`, `-config-file=${b}`, '-dev']);
    expect(c.watches).toHaveLength(3);
    expect(c.watches[0]).toMatchObject({
      target: { type: 'key', key: 'app/config' },
      handler: { kind: 'args', args: ['/usr/local/bin/reload.sh'] },
    });
    expect(c.watches[1]).toMatchObject({
      target: { type: 'service', service: 'web', tags: ['blue'], passingOnly: true },
      handler: { kind: 'shell', script: 'echo changed' },
    });
    expect(c.watches[2]).toMatchObject({
      target: { type: 'checks', state: 'critical' },
      datacenter: 'dc2',
      token: 'secret',
      handler: { kind: 'http', config: { method: 'POST', header: { 'X-Team': ['ops'] } } },
    });
  });

  it('refuses a bad plan at load with the file, the watch and the reason', () => {
    const bad = (watches: unknown): (() => unknown) => {
      const f = file('bad.json', { watches });
      return () => loadAgentConfig([`-config-file=${f}`]);
    };
    const where = `config file ${join(dir, 'bad.json')}: watches`;
    expect(
      bad([
        { type: 'key', key: 'k', args: ['x'] },
        { type: 'weather', args: ['x'] },
      ]),
    ).toThrow(`${where}[1]: Unsupported watch type: weather`);
    expect(bad([{ type: 'key', args: ['x'] }])).toThrow(`${where}[0]: Must specify a single key to watch`);
    expect(bad([{ type: 'nodes' }])).toThrow('Must define a watch handler');
    expect(bad([{ type: 'nodes', handler_type: 'http' }])).toThrow("requires 'http_handler_config'");
    expect(bad([{ type: 'nodes', args: ['x'], colour: 'blue' }])).toThrow('Invalid parameters: colour');
    expect(bad({ type: 'nodes' })).toThrow(`${where}: expected a list of watch objects`);
  });

  it('makes the agent exit 1 with one line on stderr', async () => {
    const f = file('agent-bad.json', { watches: [{ type: 'service', args: ['x'] }] });
    const err = await run(process.execPath, [BIN, 'agent', '-dev', `-config-file=${f}`]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr.trim().split('\n')).toEqual([
      `Error: config file ${f}: watches[0]: Must specify a single service to watch`,
    ]);
  });
});
