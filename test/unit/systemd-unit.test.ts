// deploy/systemd/consulate.service: `systemd-analyze verify` accepts it (and is shown to refuse
// broken copies, so the check can fail), and its ExecStart line, run as is by this test (not under
// systemd: PID 1 is not systemd here) with a temporary data dir and config dir, starts a server
// that elects itself with the comments' example config adapted to one server. systemd-analyze is
// required: a machine without it fails this file (CI's Debian image has it).
//
// Needs `npm run build` first (the `consulate` on the PATH is bin/consulate.js, which runs dist/).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  UNIT_PATH,
  execStartArgv,
  exampleServerConfig,
  settings,
  unitText,
} from '../support/systemd-unit.js';

const tmp = mkdtempSync(join(tmpdir(), 'consulate-systemd-'));
const unit = unitText();
let agent: ChildProcess | undefined;

afterAll(() => {
  if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** `systemd-analyze verify <file>`: its exit code and everything it printed. */
function verify(path: string): Promise<{ code: number; output: string }> {
  return new Promise((res, rej) => {
    execFile('systemd-analyze', ['verify', path], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      // No systemd-analyze (ENOENT) is a failure of the test, not a skip.
      if (typeof code !== 'number') return rej(err ?? new Error('systemd-analyze: no exit code'));
      res({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/** A copy of the unit with one line changed, in the temp dir (verify wants a *.service name). */
function brokenCopy(name: string, from: RegExp, to: string): string {
  const text = unit.replace(from, to);
  expect(text).not.toBe(unit);
  const path = join(tmp, `${name}.service`);
  writeFileSync(path, text);
  return path;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

async function leaderOf(base: string): Promise<string> {
  try {
    const r = await fetch(`${base}/v1/status/leader`, { signal: AbortSignal.timeout(2000) });
    return r.ok ? ((await r.json()) as string) : '';
  } catch {
    return '';
  }
}

describe('deploy/systemd/consulate.service', () => {
  it('systemd-analyze verify accepts it, without a warning', async () => {
    expect(await verify(UNIT_PATH)).toEqual({ code: 0, output: '' });
  });

  it('systemd-analyze verify does catch broken units (so the check above can fail)', async () => {
    const typo = await verify(brokenCopy('typo', /^ProtectSystem=/m, 'ProtectSytem='));
    expect(typo.output).toMatch(/Unknown key.*ProtectSytem/);
    const missing = await verify(
      brokenCopy('missing', /^ExecStart=\/usr\/bin\/env /m, 'ExecStart=/no/such/env '),
    );
    expect(missing.code).not.toBe(0);
    expect(missing.output).toMatch(/\/no\/such\/env/);
  });

  it("its ExecStart line starts a server that elects itself, and stops on the unit's KillSignal", async () => {
    const argv = execStartArgv(unit);
    const dataDir = join(tmp, 'var-lib-consulate');
    const configDir = join(tmp, 'etc-consulate.d');
    mkdirSync(dataDir, { mode: 0o700 }); // StateDirectory=, StateDirectoryMode=0700
    mkdirSync(configDir);
    // The command line exactly, but for the two directories systemd would own.
    const args = argv.map((a) =>
      a === '-data-dir=/var/lib/consulate'
        ? `-data-dir=${dataDir}`
        : a === '-config-dir=/etc/consulate.d'
          ? `-config-dir=${configDir}`
          : a,
    );
    expect(args.filter((a, i) => a !== argv[i])).toHaveLength(2);

    // The comments' server.json adapted to one server: bootstrap_expect 1, no retry_join, a real
    // key; and, because this machine is shared, loopback and free ports.
    const { retry_join: _joins, ...example } = exampleServerConfig(unit);
    const ports = { http: await freePort(), dns: await freePort(), server: await freePort() };
    const gossip = { serf_lan: await freePort(), serf_wan: await freePort() };
    writeFileSync(
      join(configDir, 'server.json'),
      JSON.stringify({
        ...example,
        bootstrap_expect: 1,
        encrypt: randomBytes(32).toString('base64'),
        bind_addr: '127.0.0.1',
        ports: { ...ports, ...gossip },
      }),
    );

    // `consulate` on the PATH, as `npm install -g` puts it; node beside it.
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(resolve(import.meta.dirname, '../../bin/consulate.js'), join(bin, 'consulate'));
    const PATH = [bin, dirname(process.execPath), process.env['PATH'] ?? ''].join(':');

    let output = '';
    const t0 = Date.now();
    const proc = spawn(args[0] as string, args.slice(1), { env: { ...process.env, PATH } });
    agent = proc;
    proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));

    const base = `http://127.0.0.1:${ports.http}`;
    const deadline = Date.now() + 30_000;
    let lead = '';
    while (lead === '' && Date.now() < deadline && proc.exitCode === null) {
      lead = await leaderOf(base);
      if (lead === '') await new Promise((r) => setTimeout(r, 200));
    }
    expect(lead, output).toBe(`127.0.0.1:${ports.server}`);
    const elected = Date.now() - t0;
    const self = (await (await fetch(`${base}/v1/agent/self`)).json()) as {
      Config: { Server: boolean; DataDir?: string };
    };
    expect(self.Config.Server).toBe(true);
    // The data dir and the key from the config dir were used.
    expect(existsSync(join(dataDir, 'serf', 'local.keyring')), output).toBe(true);

    // KillSignal=SIGTERM within TimeoutStopSec=30: a clean exit, long before systemd would SIGKILL.
    const service = Object.fromEntries(settings(unit, 'Service'));
    expect(service['KillSignal']).toBe('SIGTERM');
    const t1 = Date.now();
    proc.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    const stopped = Date.now() - t1;
    expect(stopped).toBeLessThan(Number(service['TimeoutStopSec']) * 1000);
    console.log(`systemd ExecStart: leader after ${elected} ms; SIGTERM to exit ${stopped} ms`);
  }, 60_000);
});
