// consulate monitor against an https:// agent (the client's node:https stream).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIo } from '../support/capture-io.js';
import { startLogsAgent, type LogsAgent } from '../support/logs-agent.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-files.js';

let dir: string;
let f: TlsFiles;
let a: LogsAgent;

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-https-'));
  f = await makeTlsFiles();
  a = await startLogsAgent(join(dir, 'agent.json'), {
    log_level: 'info',
    ports: { https: 0 },
    tls: { defaults: { ca_file: f.ca, cert_file: f.server.cert, key_file: f.server.key } },
  });
});

afterAll(async () => {
  await a?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(f.dir, { recursive: true, force: true });
});

describe('consulate monitor over HTTPS', () => {
  it('an untrusted certificate: one line on stderr, exit 1', async () => {
    const io = captureIo();
    expect(await main(['monitor', `-http-addr=https://${a.agent.httpsAddr}`], io)).toBe(1);
    expect(io.stderr).toMatch(/^Error: error connecting to https:\/\/.*certificate/);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('streams the lines, and ends with exit 1 when the agent goes away', async () => {
    const io = captureIo();
    const done = main(
      ['monitor', `-http-addr=https://${a.agent.httpsAddr}`, '-ca-file', f.ca, '-log-json'],
      io,
    );
    await waitFor('the subscription', () => {
      a.agent.logger.warn('a line over TLS');
      return io.stdout.includes('a line over TLS');
    });
    const first = io.stdout.split('\n')[0] as string;
    expect((JSON.parse(first) as { msg: string }).msg).toBe('a line over TLS');
    await a.agent.stop();
    expect(await done).toBe(1);
    expect(io.stderr).toContain('Remote side ended the monitor!');
  });
});
