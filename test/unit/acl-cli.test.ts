// consulate acl bootstrap | token ... | policy ... against a dev agent with ACLs on (default deny):
// Consul's output blocks, -format=json, -rules from a file and stdin, ID prefixes, and the token
// taken from -token, -token-file and CONSUL_HTTP_TOKEN.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { GLOBAL_MANAGEMENT_POLICY_ID } from '../../src/acl/authorizer.js';
import { startAclDevAgent, type DevAgent } from '../support/dev-agent.js';
import { captureIo, type CapturedIo } from '../support/capture-io.js';

let dev: DevAgent;
let dir: string;
let root = '';
let io: CapturedIo;

async function cli(args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<number> {
  io = captureIo({ CONSUL_HTTP_ADDR: dev.agent.httpAddr ?? '', ...env }, Buffer.from(stdin));
  return main(args, io);
}
const asRoot = (args: string[], stdin = ''): Promise<number> => cli(args, { CONSUL_HTTP_TOKEN: root }, stdin);

function field(out: string, name: string): string {
  const m = new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(out);
  if (!m) throw new Error(`no ${name} in:\n${out}`);
  return m[1] as string;
}

beforeAll(async () => {
  dev = await startAclDevAgent((c) => {
    c.ports.http = 0;
  });
  dir = mkdtempSync(join(tmpdir(), 'acl-cli-'));
});
afterAll(async () => {
  await dev.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('consulate acl', () => {
  it('bootstrap prints the management token block, then refuses', async () => {
    expect(await cli(['acl', 'bootstrap'])).toBe(0);
    expect(io.stdout).toMatch(/^AccessorID: {7}[0-9a-f-]{36}\nSecretID: {9}[0-9a-f-]{36}\n/);
    expect(io.stdout).toContain('Description:      Bootstrap Token (Global Management)\n');
    expect(io.stdout).toContain('Local:            false\n');
    expect(io.stdout).toContain(`Policies:\n   ${GLOBAL_MANAGEMENT_POLICY_ID} - global-management\n`);
    root = field(io.stdout, 'SecretID');
    expect(await cli(['acl', 'bootstrap'])).toBe(1);
    expect(io.stderr).toMatch(
      /Failed ACL bootstrapping: .*403.*ACL bootstrap no longer allowed \(reset index: \d+\)/,
    );
  });

  it('without a token, the anonymous token may not list policies', async () => {
    expect(await cli(['acl', 'policy', 'list'])).toBe(1);
    expect(io.stderr).toMatch(/403.*anonymous token lacks permission 'acl:read'/);
  });

  let policyId = '';
  it('policy create reads -rules from a file; read, list; update from stdin', async () => {
    const file = join(dir, 'rules.hcl');
    writeFileSync(file, 'key_prefix "app/" {\n  policy = "read"\n}\nacl = "read"\n');
    expect(
      await asRoot([
        'acl',
        'policy',
        'create',
        '-name',
        'app-read',
        '-description',
        'apps',
        '-rules',
        `@${file}`,
      ]),
    ).toBe(0);
    expect(io.stdout).toContain(
      'Name:         app-read\nDescription:  apps\nDatacenters:  \nRules:\nkey_prefix "app/" {',
    );
    policyId = field(io.stdout, 'ID');

    expect(await asRoot(['acl', 'policy', 'read', '-name', 'app-read'])).toBe(0);
    expect(field(io.stdout, 'ID')).toBe(policyId);
    expect(await asRoot(['acl', 'policy', 'read', '-id', policyId.slice(0, 8)])).toBe(0);
    expect(field(io.stdout, 'Name')).toBe('app-read');

    expect(await asRoot(['acl', 'policy', 'list'])).toBe(0);
    expect(io.stdout).toContain(`app-read:\n   ID:           ${policyId}\n   Description:  apps\n`);
    expect(io.stdout).toContain('global-management:\n');

    expect(
      await asRoot(
        ['acl', 'policy', 'update', '-id', policyId, '-name', 'app-reader', '-rules', '-'],
        'acl = "read"\n',
      ),
    ).toBe(0);
    expect(io.stdout).toContain('Name:         app-reader\n');
    expect(io.stdout).toContain('Rules:\nacl = "read"\n');
  });

  it('policy create with bad rules says where', async () => {
    expect(
      await asRoot(['acl', 'policy', 'create', '-name', 'bad', '-rules', 'key "x" { policy = "all" }']),
    ).toBe(1);
    expect(io.stderr).toMatch(/Failed to create new policy: .*400.*at 1:20: "all" is not one of/);
  });

  let accessor = '';
  let secret = '';
  it('token create, read (by prefix, -self, -format=json), list', async () => {
    expect(
      await asRoot(['acl', 'token', 'create', '-description', 'app token', '-policy-name', 'app-reader']),
    ).toBe(0);
    accessor = field(io.stdout, 'AccessorID');
    secret = field(io.stdout, 'SecretID');
    expect(io.stdout).toContain(`Policies:\n   ${policyId} - app-reader\n`);

    expect(await asRoot(['acl', 'token', 'read', '-id', accessor.slice(0, 6)])).toBe(0);
    expect(field(io.stdout, 'Description')).toBe('app token');

    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${secret}\n`);
    expect(await cli(['acl', 'token', 'read', '-self', `-token-file=${tokenFile}`])).toBe(0);
    expect(field(io.stdout, 'AccessorID')).toBe(accessor);
    expect(await cli(['acl', 'token', 'read', '-self', '-token', secret, '-format=json'])).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({
      AccessorID: accessor,
      SecretID: secret,
      Description: 'app token',
    });

    // The token has acl:read only: it lists tokens, secrets hidden.
    expect(await cli(['acl', 'token', 'list', '-token', secret, '-format', 'json'])).toBe(0);
    const list = JSON.parse(io.stdout) as { AccessorID: string; SecretID: string }[];
    expect(list.length).toBe(3);
    expect(list.every((t) => t.SecretID === '<hidden>')).toBe(true);
    expect(await asRoot(['acl', 'token', 'list'])).toBe(0);
    expect(io.stdout.split('\n\n').length).toBe(3);
    expect(io.stdout).toContain(`SecretID:         ${secret}\n`);
  });

  it('token update, clone, delete', async () => {
    expect(await asRoot(['acl', 'token', 'update', '-id', accessor, '-description', 'renamed'])).toBe(0);
    expect(io.stdout).toMatch(/^Token updated successfully\.\n/);
    expect(field(io.stdout, 'Description')).toBe('renamed');
    expect(field(io.stdout, 'SecretID')).toBe(secret);
    expect(io.stdout).toContain(`   ${policyId} - app-reader\n`);

    expect(await asRoot(['acl', 'token', 'clone', '-id', accessor, '-description', 'copy'])).toBe(0);
    expect(io.stdout).toMatch(/^Token cloned successfully\.\n/);
    const copy = field(io.stdout, 'AccessorID');
    expect(copy).not.toBe(accessor);
    expect(field(io.stdout, 'Description')).toBe('copy');

    expect(await asRoot(['acl', 'token', 'delete', '-id', copy])).toBe(0);
    expect(io.stdout).toBe(`Token "${copy}" deleted successfully\n`);
    expect(await asRoot(['acl', 'token', 'read', '-id', copy])).toBe(1);
    expect(io.stderr).toMatch(/403.*ACL not found/);
  });

  it('a read-only token cannot create tokens', async () => {
    expect(await cli(['acl', 'token', 'create', '-token', secret])).toBe(1);
    expect(io.stderr).toMatch(/Failed to create new token: .*403.*lacks permission 'acl:write'/);
  });

  it('policy delete by name', async () => {
    expect(await asRoot(['acl', 'policy', 'delete', '-name', 'app-reader'])).toBe(0);
    expect(io.stdout).toBe(`Policy "${policyId}" deleted successfully\n`);
  });

  it('unknown subcommands print the usage', async () => {
    expect(await cli(['acl', 'role', 'list'])).toBe(1);
    expect(io.stderr).toMatch(/Usage: consulate acl/);
  });
});
