// GET /v1/agent/monitor and consulate monitor: this agent's log lines from the moment a client
// connects, at the client's level (not the agent's), until it goes away; consulate info.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { formatStats } from '../../src/cli/commands/agent-ops.js';
import { defaultConfig } from '../../src/config/config.js';
import { LogHub, silentLogger } from '../../src/core/logger.js';
import { createApp, type HttpAgent } from '../../src/http/app.js';
import { captureIo } from '../support/capture-io.js';
import { startLogsAgent, type LogsAgent } from '../support/logs-agent.js';

const DEADLINE_MS = 10_000;

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A monitor request whose body is collected as it streams in. */
async function monitor(
  addr: string,
  query: string,
): Promise<{ status: number; text: () => string; close: () => void; ended: Promise<void> }> {
  const ac = new AbortController();
  const res = await fetch(`http://${addr}/v1/agent/monitor${query}`, { signal: ac.signal });
  let text = '';
  const dec = new TextDecoder();
  const ended = (async () => {
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>)
        text += dec.decode(chunk, { stream: true });
    } catch {
      // aborted by close()
    }
  })();
  return { status: res.status, text: () => text, close: () => ac.abort(), ended };
}

let dir: string;
let a: LogsAgent;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-'));
  a = await startLogsAgent(join(dir, 'agent.json'), { log_level: 'info' });
});

afterAll(async () => {
  await a?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /v1/agent/monitor', () => {
  it('streams a line logged after the client connected, at its own level', async () => {
    const m = await monitor(a.addr, '?loglevel=debug');
    expect(m.status).toBe(200);
    await waitFor('the subscription', () => a.hub.logger.level === 'debug');
    a.agent.logger.debug({ marker: 'm1' }, 'a debug line for the monitor');
    a.agent.logger.info({ token: 'sekrit-token' }, 'an info line with a secret');
    await waitFor('the debug line', () => m.text().includes('a debug line for the monitor'));
    await waitFor('the info line', () => m.text().includes('an info line with a secret'));
    expect(m.text()).toMatch(/\[DEBUG\] agent: a debug line for the monitor: marker="m1"/);
    expect(m.text()).not.toContain('sekrit-token');
    // The agent itself stays at info: its own output never got the debug line.
    expect(a.output.text).toContain('an info line with a secret');
    expect(a.output.text).not.toContain('a debug line for the monitor');
    m.close();
    await m.ended;
    // Once the client is gone the logger is back at the agent's level.
    await waitFor('the unsubscription', () => a.hub.logger.level === 'info');
  });

  it('leaves out lines below its level; logjson gives JSON lines', async () => {
    const m = await monitor(a.addr, '?loglevel=warn&logjson');
    expect(m.status).toBe(200);
    a.agent.logger.info('info-below-warn');
    a.agent.logger.warn({ n: 1 }, 'warn-at-warn');
    await waitFor('the warn line', () => m.text().includes('warn-at-warn'));
    m.close();
    await m.ended;
    const lines = m
      .text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(lines.some((l) => l.msg === 'warn-at-warn' && l.level === 40)).toBe(true);
    expect(lines.some((l) => l.msg === 'info-below-warn')).toBe(false);
  });

  it('refuses an unknown level with 400', async () => {
    const r = await fetch(`http://${a.addr}/v1/agent/monitor?loglevel=loud`);
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('Unknown log level: loud');
  });
});

describe('a monitor that reads too slowly', () => {
  it('drops lines past its buffer, says how many when it catches up, and never blocks the agent', async () => {
    const hub = new LogHub('info', []);
    const agent = { config: defaultConfig(), logs: hub } as unknown as HttpAgent;
    const app = createApp({ agent, logger: silentLogger() });
    const res = await app.request('/v1/agent/monitor?loglevel=debug');
    expect(res.status).toBe(200);
    expect(hub.logger.level).toBe('debug');
    // Nobody reads: 3.2 MB of lines against a 1 MiB buffer.
    const pad = 'x'.repeat(4000);
    for (let i = 0; i < 800; i++) hub.logger.info({ i, pad }, 'filler');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let text = '';
    let sentFinal = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      // Once the buffer has room again, the next line comes after the count of those dropped.
      if (!sentFinal) {
        hub.logger.info('final line');
        sentFinal = true;
      }
      if (text.includes('final line')) break;
    }
    await reader.cancel();
    const fillers = text.split('\n').filter((l) => l.includes('filler')).length;
    expect(fillers).toBeGreaterThan(200);
    expect(fillers).toBeLessThan(800);
    const m = /\[WARN\] {2}agent\.monitor: dropped (\d+) log lines/.exec(text);
    expect(Number(m?.[1])).toBe(800 - fillers);
    expect(text.indexOf('monitor: dropped')).toBeLessThan(text.indexOf('final line'));
    // The reader is gone: the logger is back at the agent's level.
    expect(hub.logger.level).toBe('info');
  });
});

describe('consulate info', () => {
  it("prints /v1/agent/self's Stats, sections and keys sorted", async () => {
    const io = captureIo();
    expect(await main(['info', `-http-addr=${a.addr}`], io)).toBe(0);
    const sections = io.stdout.split('\n').filter((l) => /^\S.*:$/.test(l));
    expect(sections).toEqual([...sections].sort());
    for (const s of ['agent:', 'build:', 'consul:', 'raft:', 'runtime:', 'serf_lan:', 'serf_wan:'])
      expect(sections).toContain(s);
    expect(io.stdout).toMatch(/^raft:\n(\t\S+ = .*\n)*\tstate = Leader\n/m);
    expect(io.stdout).toMatch(/\tleader = true\n/);
    expect(io.stdout).toMatch(/\tservices = 0\n/);
    expect(io.stdout).toMatch(/^consul:\n\tacl = disabled\n/m);
    expect(io.stdout).toMatch(/\tfsm_pending = \d+\n/);
    expect(io.stdout).toMatch(
      /\tlatest_configuration = \[\{Suffrage:Voter ID:\S+ Address:127\.0\.0\.1:\d+\}\]\n/,
    );
  });

  it('formats values as Consul does', () => {
    expect(formatStats({ b: { z: '1', a: 'x' }, a: { k: 'v' } })).toBe('a:\n\tk = v\nb:\n\ta = x\n\tz = 1\n');
  });

  it('an unreachable agent: one line on stderr, exit 1', async () => {
    const io = captureIo();
    expect(await main(['info', '-http-addr=127.0.0.1:1'], io)).toBe(1);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('consulate monitor', () => {
  it('refuses an unknown level', async () => {
    const io = captureIo();
    expect(await main(['monitor', '-log-level=loud', `-http-addr=${a.addr}`], io)).toBe(1);
    expect(io.stderr).toContain('Unknown log level: loud');
  });

  // Last: it ends by stopping the agent.
  it('prints the lines as they come and exits 1 when the agent goes away', async () => {
    const io = captureIo();
    const done = main(['monitor', '-log-level=debug', `-http-addr=${a.addr}`], io);
    await waitFor('the subscription', () => a.hub.logger.level === 'debug');
    a.agent.logger.debug('a line for the CLI monitor');
    await waitFor('the line', () => io.stdout.includes('a line for the CLI monitor'));
    await a.agent.stop();
    expect(await done).toBe(1);
    expect(io.stderr).toContain('Remote side ended the monitor!');
  });
});
