// Consul's CLI against a dev agent, for the commands not covered elsewhere: kv export|import (the
// round trip in Consul's JSON), members/join/leave/force-leave, keygen/keyring, event, version,
// validate; and progress lines (drawn on a terminal's stderr, silent in pipes).

import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient, decodeValue } from '../../src/client/client.js';
import { main } from '../../src/cli/main.js';
import { parseExport } from '../../src/cli/commands/kv-transfer.js';
import { formatBytes, progress, progressText } from '../../src/cli/progress.js';
import { readyCount, readyTotal } from '../../src/cli/commands/local-cluster.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo, type CapturedIo } from '../support/capture-io.js';

let dev: DevAgent;
let client: ConsulClient;
let io: CapturedIo;
const cli = async (...args: string[]): Promise<number> => {
  io.stdout = '';
  io.stderr = '';
  return main(args, io);
};
const oneErrorLine = (): void => expect(io.stderr.trim().split('\n')).toHaveLength(1);

beforeAll(async () => {
  dev = await startDevAgent((c) => {
    c.ports.http = 0;
  });
  client = new ConsulClient({ address: dev.agent.httpAddr ?? '' });
  io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '' });
});
afterAll(() => dev.stop());

describe('kv export | import', () => {
  it("exports a prefix in Consul's JSON: tab-indented {key, flags, value} with base64 values", async () => {
    await client.kvPut('exp/a', 'alpha', { flags: 42 });
    await client.kvPut('exp/b/c', Buffer.from([0, 255, 10, 13]));
    await client.kvPut('exp/empty', '');
    await client.kvPut('other/x', 'not exported');
    expect(await cli('kv', 'export', 'exp/')).toBe(0);
    expect(io.stderr).toBe(''); // no terminal: no progress
    expect(io.stdout).toBe(
      [
        '[',
        '\t{',
        '\t\t"key": "exp/a",',
        '\t\t"flags": 42,',
        `\t\t"value": "${Buffer.from('alpha').toString('base64')}"`,
        '\t},',
        '\t{',
        '\t\t"key": "exp/b/c",',
        '\t\t"flags": 0,',
        '\t\t"value": "AP8KDQ=="',
        '\t},',
        '\t{',
        '\t\t"key": "exp/empty",',
        '\t\t"flags": 0,',
        '\t\t"value": ""',
        '\t}',
        ']',
        '',
      ].join('\n'),
    );
    expect(await cli('kv', 'export', 'nothing-here/')).toBe(0);
    expect(io.stdout).toBe('[]\n');
  });

  it('imports what export wrote (from stdin, with -prefix), entry by entry equal', async () => {
    expect(await cli('kv', 'export', 'exp/')).toBe(0);
    const exported = io.stdout;
    io.stdin = () => Promise.resolve(Buffer.from(exported));
    expect(await cli('kv', 'import', '-prefix=copy/', '-')).toBe(0);
    expect(io.stdout).toBe('Imported: copy/exp/a\nImported: copy/exp/b/c\nImported: copy/exp/empty\n');
    const orig = await client.kvList('exp/');
    const copy = await client.kvList('copy/exp/');
    expect(
      copy.map((e) => [e.Key.slice('copy/'.length), e.Flags, decodeValue(e.Value).toString('hex')]),
    ).toEqual(orig.map((e) => [e.Key, e.Flags, decodeValue(e.Value).toString('hex')]));
  });

  it('imports from @file and from the argument itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-import-'));
    const file = join(dir, 'data.json');
    writeFileSync(
      file,
      JSON.stringify([{ key: 'imp/file', flags: 7, value: Buffer.from('f').toString('base64') }]),
    );
    expect(await cli('kv', 'import', `@${file}`)).toBe(0);
    expect(io.stdout).toBe('Imported: imp/file\n');
    expect(await client.kvGet('imp/file')).toMatchObject({ Flags: 7 });
    expect(await cli('kv', 'import', '[{"key":"imp/arg","flags":0,"value":"YXJn"}]')).toBe(0);
    expect(decodeValue((await client.kvGet('imp/arg'))?.Value ?? null).toString()).toBe('arg');
  });

  it('refuses bad input in one line, writing nothing', async () => {
    expect(await cli('kv', 'import', 'not json')).toBe(1);
    expect(io.stderr).toMatch(/^Cannot unmarshal data: /);
    oneErrorLine();
    expect(await cli('kv', 'import', '[{"key":"bad/b64","value":"***"},{"key":"bad/ok","value":""}]')).toBe(
      1,
    );
    expect(io.stderr).toBe('Error base 64 decoding value for key bad/b64: illegal base64 data\n');
    expect(await client.kvGet('bad/ok')).toBeNull(); // checked before the first write
    expect(await cli('kv', 'import')).toBe(1);
    expect(io.stderr).toBe('Error! Missing DATA argument\n');
    expect(await cli('kv', 'import', '@/no/such/file.json')).toBe(1);
    expect(io.stderr).toMatch(/^Error! Failed to read file: /);
    expect(await cli('kv', 'export', 'a', 'b')).toBe(1);
    oneErrorLine();
  });

  it('parseExport takes missing flags and values as zero and refuses non-lists', () => {
    expect(parseExport('[{"key":"k"}]')).toEqual([{ key: 'k', flags: 0, value: '' }]);
    expect(() => parseExport('{"key":"k"}')).toThrow(/expected a JSON list/);
    expect(() => parseExport('[{"key":"k","flags":-1}]')).toThrow(/flags must be a non-negative integer/);
    expect(() => parseExport('[{"flags":1}]')).toThrow(/entry 0 has no "key"/);
  });
});

describe('kv put -acquire | -release', () => {
  it('takes and gives up a session lock, as Consul prints it', async () => {
    const { ID: session } = await client.json<{ ID: string }>('PUT', '/v1/session/create', {
      body: JSON.stringify({ Name: 'cli', TTL: '' }),
    });
    expect(await cli('kv', 'put', '-acquire', `-session=${session}`, 'locks/a', 'held')).toBe(0);
    expect(io.stdout).toBe('Success! Lock acquired on: locks/a\n');
    expect((await client.kvGet('locks/a'))?.Session).toBe(session);
    const { ID: other } = await client.json<{ ID: string }>('PUT', '/v1/session/create', {
      body: JSON.stringify({ Name: 'other', TTL: '' }),
    });
    expect(await cli('kv', 'put', '-acquire', `-session=${other}`, 'locks/a')).toBe(1);
    expect(io.stderr).toBe('Error! Did not acquire lock\n');
    expect(await cli('kv', 'put', '-release', `-session=${session}`, 'locks/a')).toBe(0);
    expect(io.stdout).toBe('Success! Lock released on: locks/a\n');
    expect((await client.kvGet('locks/a'))?.Session).toBeUndefined();
    expect(await cli('kv', 'put', '-acquire', 'locks/a')).toBe(1);
    expect(io.stderr).toBe('Error! Missing -session (required with -acquire)\n');
  });
});

describe('members, join, leave, force-leave', () => {
  it('members: the aligned table and exit 2 when -status matches nothing', async () => {
    expect(await cli('members')).toBe(0);
    const [head, row] = io.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^Node\s+Address\s+Status\s+Type\s+Build\s+Protocol\s+DC\s+Partition\s+Segment$/);
    expect(row).toMatch(
      /^test-node\s+127\.0\.0\.1:\d+\s+alive\s+server\s+\d+\.\d+\.\d+\s+2\s+dc1\s+default\s+<all>$/,
    );
    expect(head?.indexOf('Status')).toBe(row?.indexOf('alive'));
    expect(await cli('members', '-status=failed')).toBe(2);
    expect(io.stdout).toBe('');
  });

  it('force-leave of an unknown node fails in one line; -prune is accepted', async () => {
    expect(await cli('force-leave', '-prune', 'ghost')).toBe(1);
    expect(io.stderr).toMatch(/No node found with name 'ghost'/);
    oneErrorLine();
    expect(await cli('force-leave')).toBe(1);
    expect(io.stderr).toBe('A single node name must be specified to force leave.\n');
  });

  it('join reports what it could not reach and exits 1', async () => {
    expect(await cli('join', '127.0.0.1:1')).toBe(1);
    expect(io.stderr.trim().split('\n').at(-1)).toBe('Failed to join any nodes.');
    expect(await cli('join')).toBe(1);
    expect(io.stderr).toBe('At least one address to join must be specified.\n');
  });

  it('leave takes no arguments', async () => {
    expect(await cli('leave', 'now')).toBe(1);
    expect(io.stderr).toBe('leave takes no arguments\n');
  });
});

describe('keygen, keyring, event', () => {
  it('keygen prints a 32-byte base64 key; keyring -list shows the keys per pool', async () => {
    expect(await cli('keygen')).toBe(0);
    const key = io.stdout.trim();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    const enc = await startDevAgent((c) => {
      c.ports.http = 0;
      c.encrypt = key;
    });
    try {
      const eio = captureIo({ CONSUL_HTTP_ADDR: enc.agent.httpAddr ?? '' });
      expect(await main(['keyring', '-list'], eio)).toBe(0);
      // A server answers for the WAN pool first, as Consul's does.
      expect(eio.stdout).toBe(
        `==> Gathering installed encryption keys...\n\nWAN:\n  ${key} [1/1]\n\ndc1 (LAN):\n  ${key} [1/1]\n`,
      );
    } finally {
      await enc.stop();
    }
    expect(await cli('keyring')).toBe(1);
    oneErrorLine();
  });

  it("puts an agent's multi-line error on one stderr line", async () => {
    expect(await cli('keyring', '-list')).toBe(1); // this agent's gossip is not encrypted
    expect(io.stderr).toMatch(/^Error: Unexpected response code: 500 .*Keyring is empty/);
    oneErrorLine();
  });

  it('event fires and prints its ID', async () => {
    expect(await cli('event', '-name=deploy', 'v2')).toBe(0);
    expect(io.stdout).toMatch(/^Event ID: [0-9a-f-]{36}\n$/);
    expect(await cli('event', '-name=_reserved')).toBe(1);
    oneErrorLine();
  });
});

describe('version', () => {
  it('prints the version, or its JSON with -format=json', async () => {
    expect(await cli('version')).toBe(0);
    expect(io.stdout).toMatch(/^Consulate v\d+\.\d+\.\d+\nProtocol 2 spoken by default, understands 2 to 3 /);
    expect(await cli('version', '-format=json')).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({
      Version: expect.stringMatching(/^\d/),
      RPC: { Default: 2, Min: 2, Max: 3 },
    });
    expect(await cli('version', '-format=xml')).toBe(1);
    oneErrorLine();
  });
});

describe('validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'validate-'));
  const good = join(dir, 'good.json');
  const conf = join(dir, 'conf.d');
  writeFileSync(
    good,
    JSON.stringify({ datacenter: 'east', data_dir: '/tmp/x', server: true, bootstrap_expect: 3 }),
  );
  mkdirSync(conf);
  writeFileSync(join(conf, 'a.json'), JSON.stringify({ node_name: 'n1', data_dir: '/tmp/y' }));
  writeFileSync(join(conf, 'b.json'), JSON.stringify({ autopilot: { server_stabilization_time: '30s' } }));

  it('accepts valid files and directories', async () => {
    expect(await cli('validate', good, conf)).toBe(0);
    expect(io.stdout).toBe('Configuration is valid!\n');
    expect(await cli('validate', '-quiet', good)).toBe(0);
    expect(io.stdout).toBe('');
  });

  it('refuses bad settings, bad JSON and missing paths in one line', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ autopilot: { max_trailing_logs: 'many' } }));
    expect(await cli('validate', bad)).toBe(1);
    expect(io.stderr).toMatch(/^Config validation failed: .*max_trailing_logs/);
    oneErrorLine();
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "datacenter": ');
    expect(await cli('validate', broken)).toBe(1);
    expect(io.stderr).toMatch(/^Config validation failed: .*invalid JSON/);
    expect(await cli('validate', join(dir, 'missing.json'))).toBe(1);
    expect(io.stderr).toMatch(/^Config validation failed: /);
    expect(await cli('validate')).toBe(1);
    expect(io.stderr).toBe('Must specify at least one config file or directory\n');
  });
});

describe('progress', () => {
  it('draws on a terminal, throttled, and clears its line when done', () => {
    let t = 0;
    const tty = captureIo();
    tty.stderrIsTty = () => true;
    const p = progress(tty, 'importing', { now: () => t });
    p.update(1, 4);
    t = 50;
    p.update(2, 4); // within the interval: skipped
    t = 150;
    p.update(3, 4);
    p.done();
    expect(tty.stderr).toBe('\rimporting: 1 / 4 (25%)\x1b[K\rimporting: 3 / 4 (75%)\x1b[K\r\x1b[K');
    expect(tty.stdout).toBe('');
  });

  it('says nothing in a pipe', () => {
    const pipe = captureIo();
    pipe.stderrIsTty = () => false;
    const p = progress(pipe, 'exporting');
    p.update(5, 10);
    p.done();
    expect(pipe.stderr).toBe('');
    const none = captureIo();
    progress(none, 'x').update(1);
    expect(none.stderr).toBe('');
  });

  it('formats counts, bytes and notes', () => {
    expect(progressText('saving', 1536, 3 * 1024 * 1024, undefined, true)).toBe(
      'saving: 1.5 KiB / 3.0 MiB (0%)',
    );
    expect(progressText('waiting', 2, 5, 'dc1 leader ok')).toBe('waiting: 2 / 5 (40%) dc1 leader ok');
    expect(progressText('exporting', 7)).toBe('exporting: 7');
    expect(formatBytes(512)).toBe('512 B');
  });

  it("counts what npm start's wait has seen", () => {
    const r = {
      leaders: { dc1: true, dc2: false },
      wanSeen: { dc1: 3, dc2: 6 },
      wanExpected: 6,
      gateways: { g1: 2, g2: 1 },
      dcs: 2,
    };
    expect(readyCount(r)).toBe(1 + 3 + 1);
    expect(readyTotal(r)).toBe(2 + 6 + 2);
  });
});
