// consulate snapshot save | inspect | restore against dev agents over HTTP: Consul's output lines
// and exit codes, a damaged file refused with one line on stderr, no progress in a pipe and
// progress on a terminal.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../src/client/client.js';
import { main } from '../../src/cli/main.js';
import { readArchive } from '../../src/snapshot/archive.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo, type CapturedIo } from '../support/capture-io.js';

let source: DevAgent;
let target: DevAgent;
let dir: string;

const run = async (io: CapturedIo, ...args: string[]): Promise<number> => main(args, io);
const ioFor = (dev: DevAgent): CapturedIo => captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
const clientOf = (dev: DevAgent): ConsulClient => new ConsulClient({ address: dev.agent.httpAddr ?? '' });

beforeAll(async () => {
  const withHttp = (c: { ports: { http: number } }): void => {
    c.ports.http = 0;
  };
  source = await startDevAgent(withHttp);
  target = await startDevAgent(withHttp);
  dir = mkdtempSync(join(tmpdir(), 'snapshot-cli-'));
  const c = clientOf(source);
  for (let i = 0; i < 20; i++) await c.kvPut(`cfg/key-${i}`, `value ${i}`);
  await c.json('PUT', '/v1/catalog/register', {
    body: JSON.stringify({ Node: 'ext', Address: '10.1.1.1', Service: { Service: 'api', Port: 8080 } }),
  });
});
afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

describe('consulate snapshot', () => {
  it('save writes a verified archive and says to which index', async () => {
    const io = ioFor(source);
    const file = join(dir, 'backup.snap');
    expect(await run(io, 'snapshot', 'save', file)).toBe(0);
    const index = source.agent.server!.fsm.store.lastIndex;
    expect(io.stdout).toBe(`Saved and verified snapshot to index ${index}\n`);
    // Quiet in a pipe: nothing on stderr, and no temporary file left behind.
    expect(io.stderr).toBe('');
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect((await readArchive(readFileSync(file))).meta.Index).toBe(index);
  });

  it('inspect prints the metadata and what the snapshot holds, as a table or as JSON', async () => {
    const file = join(dir, 'backup.snap');
    const meta = (await readArchive(readFileSync(file))).meta;
    const io = captureIo();
    expect(await run(io, 'snapshot', 'inspect', file)).toBe(0);
    const lines = io.stdout.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      ` ID           ${meta.ID}`,
      ` Size         ${meta.Size}`,
      ` Index        ${meta.Index}`,
      ` Term         ${meta.Term}`,
      ' Version      1',
      '',
    ]);
    expect(lines[6]).toMatch(/^ Type {2,}Count {2,}Size$/);
    expect(io.stdout).toMatch(/^ KVS {2,}20 {2,}\d+(\.\d)?[KM]?B$/m);
    expect(io.stdout).toMatch(/^ Register {2,}\d+ {2,}/m);
    expect(io.stdout).toMatch(/^ Total {2,}\d+(\.\d)?[KM]?B\n$/m);

    const json = captureIo();
    expect(await run(json, 'snapshot', 'inspect', '-format=json', file)).toBe(0);
    const info = JSON.parse(json.stdout) as {
      Meta: Record<string, unknown>;
      Stats: { Name: string; Count: number; Sum: number }[];
      TotalSize: number;
    };
    expect(info.Meta).toEqual({
      ID: meta.ID,
      Size: meta.Size,
      Index: meta.Index,
      Term: meta.Term,
      Version: 1,
    });
    expect(info.Stats.find((s) => s.Name === 'KVS')?.Count).toBe(20);
    expect(info.TotalSize).toBe(info.Stats.reduce((n, s) => n + s.Sum, 0));
  });

  it('restore brings the state into another agent', async () => {
    const io = ioFor(target);
    expect(await run(io, 'snapshot', 'restore', join(dir, 'backup.snap'))).toBe(0);
    expect(io.stdout).toBe('Restored snapshot\n');
    expect(io.stderr).toBe('');
    const want = await clientOf(source).kvList('cfg/');
    expect(await clientOf(target).kvList('cfg/')).toEqual(want);
    expect(want).toHaveLength(20);
  });

  it('refuses a damaged file with one line on stderr and exit 1, and the agent keeps its state', async () => {
    const good = readFileSync(join(dir, 'backup.snap'));
    const bad = join(dir, 'bad.snap');
    writeFileSync(bad, good.subarray(0, good.byteLength - 64));
    await clientOf(target).kvPut('after/restore', 'kept');
    const generation = target.agent.server!.fsm.store.restoreGeneration;
    for (const sub of ['restore', 'inspect']) {
      const io = ioFor(target);
      expect(await run(io, 'snapshot', sub, bad)).toBe(1);
      expect(io.stdout).toBe('');
      expect(io.stderr).toMatch(
        /^Error (verifying snapshot file|extracting snapshot data): failed to decompress snapshot: .+\n$/,
      );
      expect(io.stderr.split('\n')).toHaveLength(2);
    }
    expect(target.agent.server!.fsm.store.restoreGeneration).toBe(generation);
    expect((await clientOf(target).kvGet('after/restore'))?.Value).toBe(
      Buffer.from('kept').toString('base64'),
    );
  });

  it('fails with one line and exit 1 on a missing file, a bad format, no agent, or the wrong arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['restore', join(dir, 'nope.snap')], /^Error opening snapshot file: ENOENT/],
      [['inspect', join(dir, 'nope.snap')], /^Error opening snapshot file: ENOENT/],
      [['inspect', '-format=xml', join(dir, 'backup.snap')], /^Unknown format: xml\n$/],
      [['save'], /^This command takes one argument: <file>\n$/],
      [['save', 'a', 'b'], /^This command takes one argument: <file>\n$/],
      [['frobnicate'], /^Usage: consulate snapshot/],
    ];
    for (const [args, message] of cases) {
      const io = ioFor(target);
      expect(await run(io, 'snapshot', ...args), args.join(' ')).toBe(1);
      expect(io.stderr).toMatch(message);
      expect(io.stdout).toBe('');
    }
    const io = captureIo({ CONSUL_HTTP_ADDR: '127.0.0.1:1' });
    expect(await run(io, 'snapshot', 'save', join(dir, 'never.snap'))).toBe(1);
    expect(io.stderr).toMatch(/^Error saving snapshot: error connecting to http:\/\/127\.0\.0\.1:1: /);
    expect(existsSync(join(dir, 'never.snap'))).toBe(false);
  });
});

describe('consulate snapshot on a terminal', () => {
  it('shows the bytes saved and restored on stderr, and still prints its line on stdout', async () => {
    // Values that do not compress, so the archive takes several chunks to send.
    const c = clientOf(source);
    for (let i = 0; i < 8; i++) await c.kvPut(`blob/${i}`, randomBytes(32 * 1024));
    const file = join(dir, 'tty.snap');
    const saving = Object.assign(ioFor(source), { stderrIsTty: () => true });
    expect(await run(saving, 'snapshot', 'save', file)).toBe(0);
    expect(saving.stdout).toMatch(/^Saved and verified snapshot to index \d+\n$/);
    expect(saving.stderr).toMatch(/^\rSaving snapshot: \d+(\.\d)? (B|KiB)/);
    // The line is cleared at the end: the command's own result stands alone.
    expect(saving.stderr.endsWith('\r\x1b[K')).toBe(true);

    const size = readFileSync(file).byteLength;
    expect(size).toBeGreaterThan(200 * 1024);
    const restoring = Object.assign(ioFor(target), { stderrIsTty: () => true });
    expect(await run(restoring, 'snapshot', 'restore', file)).toBe(0);
    expect(restoring.stdout).toBe('Restored snapshot\n');
    const drawn = restoring.stderr.split('\r').filter((l) => l !== '');
    expect(drawn[0]).toMatch(/^Restoring snapshot: 64\.0 KiB \/ \d+\.\d KiB \(\d+%\)/);
    expect(drawn.at(-1)).toBe('\x1b[K');
    expect((await clientOf(target).kvList('blob/')).length).toBe(8);
  });
});
