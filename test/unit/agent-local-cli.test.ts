// consulate services register/deregister and consulate maint against an in-memory agent's HTTP API.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/common.js';
import { main } from '../../src/cli/main.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo } from '../support/capture-io.js';

let dev: DevAgent;
let io: Io & { stdout: string; stderr: string };
let dir: string;
const cli = async (...args: string[]): Promise<number> => {
  io.stdout = '';
  io.stderr = '';
  return main(args, io);
};
beforeAll(async () => {
  dev = await startDevAgent((c) => {
    c.ports.http = 0;
  });
  dir = mkdtempSync(join(tmpdir(), 'consulate-cli-'));
  io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
});
afterAll(async () => {
  await dev.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('consulate services', () => {
  it('registers from flags and deregisters by -id', async () => {
    expect(
      await cli(
        'services',
        'register',
        '-name=web',
        '-id=web-1',
        '-port=8080',
        '-tag=a',
        '-tag=b',
        '-meta=team=x',
      ),
    ).toBe(0);
    expect(io.stdout).toBe('Registered service: web\n');
    expect(dev.agent.local.state.service('web-1')).toMatchObject({
      Service: 'web',
      Port: 8080,
      Tags: ['a', 'b'],
      Meta: { team: 'x' },
    });
    expect(await cli('services', 'deregister', '-id=web-1')).toBe(0);
    expect(io.stdout).toBe('Deregistered service: web-1\n');
    expect(dev.agent.local.state.service('web-1')).toBeUndefined();
  });

  it('registers and deregisters the services of a definition file', async () => {
    const f = join(dir, 'svc.json');
    writeFileSync(
      f,
      JSON.stringify({
        services: [
          { name: 'a', port: 1 },
          { name: 'b', id: 'b-1', check: { ttl: '1m' } },
        ],
      }),
    );
    expect(await cli('services', 'register', f)).toBe(0);
    expect(io.stdout).toBe('Registered service: a\nRegistered service: b\n');
    expect(dev.agent.local.state.check('service:b-1')?.check.ServiceID).toBe('b-1');
    expect(await cli('services', 'deregister', f)).toBe(0);
    expect(io.stdout).toBe('Deregistered service: a\nDeregistered service: b-1\n');
  });

  it('reports what the agent refuses, in one line with exit 1', async () => {
    expect(await cli('services', 'register')).toBe(1);
    expect(await cli('services', 'register', '-name=x', '-address=0.0.0.0')).toBe(1);
    expect(io.stderr).toBe(
      'Error registering service "x": Unexpected response code: 400 (Invalid service address)\n',
    );
    expect(await cli('services', 'deregister')).toBe(1);
    expect(await cli('services', 'deregister', '-id=ghost')).toBe(1);
    expect(io.stderr).toContain('Unknown service ID "ghost"');
    expect(await cli('services', 'frob')).toBe(1);
  });
});

describe('consulate maint', () => {
  it('enables, lists and disables node and service maintenance', async () => {
    await cli('services', 'register', '-name=db');
    expect(await cli('maint', '-enable', '-reason=patching')).toBe(0);
    expect(io.stdout).toBe('Node maintenance is now enabled\n');
    expect(await cli('maint', '-enable', '-service=db')).toBe(0);
    expect(io.stdout).toBe('Service maintenance is now enabled for "db"\n');
    expect(await cli('maint')).toBe(0);
    expect(io.stdout).toContain('Node:\n  Name:   test-node\n  Reason: patching\n');
    expect(io.stdout).toContain(
      'Service:\n  ID:     db\n  Reason: Maintenance mode is enabled for this service',
    );
    expect(await cli('maint', '-disable', '-service=db')).toBe(0);
    expect(io.stdout).toBe('Service maintenance is now disabled for "db"\n');
    expect(await cli('maint', '-disable')).toBe(0);
    expect(await cli('maint')).toBe(0);
    expect(io.stdout).toBe('');
  });

  it('refuses contradictory flags and unknown services', async () => {
    expect(await cli('maint', '-enable', '-disable')).toBe(1);
    expect(io.stderr).toBe('Only one of -enable or -disable may be provided\n');
    expect(await cli('maint', '-reason=x')).toBe(1);
    expect(await cli('maint', '-enable', '-service=ghost')).toBe(1);
    expect(io.stderr).toContain('No service registered with ID "ghost"');
  });
});
