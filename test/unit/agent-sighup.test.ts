// A real agent process (bin/consulate.js, the built code): SIGHUP reloads its config file, a bad
// config leaves it running as it was, and -log-file gets the same lines as stdout.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/logs-agent.js';

const BIN = resolve(import.meta.dirname, '../../bin/consulate.js');
const DEADLINE_MS = 20_000;

async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (
    !(await Promise.resolve()
      .then(cond)
      .catch(() => false))
  ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let dir: string;
let proc: ChildProcess;
let stdout = '';
let addr = '';
const configFile = (): string => join(dir, 'agent.json');
const logDir = (): string => join(dir, 'logs');

async function services(): Promise<string[]> {
  const r = await fetch(`http://${addr}/v1/agent/services`);
  return Object.keys((await r.json()) as Record<string, unknown>).sort();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sighup-'));
  writeFileSync(configFile(), JSON.stringify({ log_level: 'info', services: [{ name: 'first', port: 1 }] }));
  const http = await freePort();
  addr = `127.0.0.1:${http}`;
  proc = spawn(
    process.execPath,
    [
      BIN,
      'agent',
      '-dev',
      '-node=hup-node',
      `-http-port=${http}`,
      '-dns-port=-1',
      `-server-port=${await freePort()}`,
      '-serf-lan-port=0',
      '-serf-wan-port=0',
      `-config-file=${configFile()}`,
      `-log-file=${logDir()}/`,
      '-log-rotate-max-files=2',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  proc.stderr?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  await waitFor('the agent API', async () => (await services()).includes('first'));
});

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The config the reloads go to: a second service next to the first. */
const TWO_SERVICES = {
  log_level: 'info',
  services: [
    { name: 'first', port: 1 },
    { name: 'second', port: 2 },
  ],
};

describe('a real agent process', () => {
  it('SIGHUP reloads the config file: a new service appears', async () => {
    writeFileSync(configFile(), JSON.stringify(TWO_SERVICES));
    proc.kill('SIGHUP');
    await waitFor('the second service', async () => (await services()).includes('second'));
    expect(await services()).toEqual(['first', 'second']);
    await waitFor('the reload log line', () => stdout.includes('reloaded configuration'));
  });

  it('a bad config on SIGHUP is refused and the agent keeps running as it was', async () => {
    writeFileSync(configFile(), '{ "services": [ ');
    proc.kill('SIGHUP');
    await waitFor('the refusal in the log', () => stdout.includes('the new config was refused'));
    expect(proc.exitCode).toBeNull();
    expect(await services()).toEqual(['first', 'second']);
  });

  it('consulate monitor shows the reload as it happens, and exits 0 on Ctrl-C', async () => {
    const mon = spawn(process.execPath, [BIN, 'monitor', '-log-level=debug', `-http-addr=${addr}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    mon.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    mon.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const exited = new Promise<number | null>((r) => mon.once('exit', (code) => r(code)));
    // When the monitor is connected is not visible from here: SIGHUP every half second until it
    // has seen a reload.
    writeFileSync(configFile(), JSON.stringify(TWO_SERVICES));
    let sent = 0;
    await waitFor('the monitor to see a reload', () => {
      if (out.includes('reloaded configuration')) return true;
      if (Date.now() - sent > 500) {
        proc.kill('SIGHUP');
        sent = Date.now();
      }
      return false;
    });
    expect(out).toMatch(/\[INFO\] {2}agent: caught signal, reloading configuration: signal="SIGHUP"/);
    mon.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('-log-file gets the same lines as stdout, in consul.log', () => {
    const file = join(logDir(), 'consul.log');
    expect(existsSync(file)).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('reloaded configuration');
    expect(text).toContain('the new config was refused');
    expect(text).toMatch(/^\S+ \[INFO\] {2}agent: starting agent/m);
    expect(readdirSync(logDir())).toContain('consul.log');
  });
});
