// The ACL tables through the FSM: bootstrap once (a reset naming the last bootstrap's index allows
// another), token and policy writes with their checks, a snapshot round trip; the config keys
// (current and legacy names); secrets redacted from log lines; token files written mode 0600.

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Fsm } from '../../src/state/fsm.js';
import { encodeCommand, type FsmCommand } from '../../src/state/commands.js';
import { anonymousToken, globalManagementPolicy, managementToken, policyHash } from '../../src/acl/tokens.js';
import { GLOBAL_MANAGEMENT_POLICY_ID } from '../../src/acl/authorizer.js';
import { applyConfigObject } from '../../src/config/load.js';
import { defaultConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/core/logger.js';
import { secretsEqual, writeSecretFile } from '../../src/acl/secret.js';
import { randomUUID } from 'node:crypto';
import { StoreResolver } from '../../src/acl/resolver.js';
import { endpoints, type EndpointContext } from '../../src/rpc/endpoints/index.js';
import { loadPersistedTokens, setAgentToken, TOKENS_FILE } from '../../src/acl/agent-tokens.js';

const T = '2026-01-01T00:00:00.000Z';
const A1 = '11111111-1111-1111-1111-111111111111';
const S1 = '22222222-2222-2222-2222-222222222222';
const A2 = '33333333-3333-3333-3333-333333333333';
const S2 = '44444444-4444-4444-4444-444444444444';

function fsmWith(cmds: FsmCommand[]): { fsm: Fsm; results: unknown[] } {
  const fsm = new Fsm('dc1');
  const results = cmds.map((c, i) => fsm.apply(i + 1, encodeCommand(c)));
  return { fsm, results };
}

const readers = {
  ID: '55555555-5555-5555-5555-555555555555',
  Name: 'readers',
  Description: '',
  Rules: 'acl = "read"',
  Datacenters: null,
};

describe('the ACL tables through the FSM', () => {
  it('bootstraps once; a second bootstrap is refused with the reset index; a reset allows one more', () => {
    const { fsm, results } = fsmWith([
      { type: 'aclPolicySet', policy: globalManagementPolicy() },
      { type: 'aclBootstrap', token: managementToken(A1, S1, 'boot', T), resetIndex: 0 },
      { type: 'aclBootstrap', token: managementToken(A2, S2, 'again', T), resetIndex: 0 },
      { type: 'aclBootstrap', token: managementToken(A2, S2, 'reset', T), resetIndex: 2 },
    ]);
    expect(results[1]).toMatchObject({ AccessorID: A1, CreateIndex: 2 });
    expect((results[2] as Error).message).toBe(
      'Permission denied: ACL bootstrap no longer allowed (reset index: 2)',
    );
    expect(results[3]).toMatchObject({ AccessorID: A2, CreateIndex: 4 });
    expect(fsm.store.aclCanBootstrap()).toEqual({ allowed: false, resetIndex: 4 });
  });

  it('checks policy links, secret and name uniqueness in the store too', () => {
    const { results } = fsmWith([
      { type: 'aclTokenSet', token: managementToken(A1, S1, 'no policy yet', T) },
      { type: 'aclPolicySet', policy: { ...readers, Hash: policyHash(readers) } },
      { type: 'aclPolicySet', policy: { ...readers, ID: '66666666-6666-6666-6666-666666666666', Hash: 'x' } },
      { type: 'aclTokenSet', token: anonymousToken(T) },
      { type: 'aclTokenSet', token: { ...anonymousToken(T), AccessorID: A2 } },
    ]);
    expect((results[0] as Error).message).toMatch(/No such ACL policy with ID/);
    expect((results[2] as Error).message).toMatch(/A Policy with Name "readers" already exists/);
    expect((results[4] as Error).message).toMatch(/SecretID is already in use/);
  });

  it('refuses malformed commands without stopping the log', () => {
    const { fsm, results } = fsmWith([
      { type: 'aclTokenSet', token: { AccessorID: '' } } as unknown as FsmCommand,
      { type: 'aclPolicySet', policy: { ...readers, Hash: 'h' } },
    ]);
    expect((results[0] as Error).message).toMatch(/malformed aclTokenSet command/);
    expect(fsm.store.aclPolicyByName('readers')?.ID).toBe(readers.ID);
  });

  it('round-trips through a snapshot, indexes and lookups included', () => {
    const { fsm } = fsmWith([
      { type: 'aclPolicySet', policy: globalManagementPolicy() },
      { type: 'aclPolicySet', policy: { ...readers, Hash: 'h' } },
      { type: 'aclBootstrap', token: managementToken(A1, S1, 'boot', T), resetIndex: 0 },
      {
        type: 'aclTokenSet',
        token: { ...managementToken(A2, S2, 'reader', T), Policies: [{ ID: readers.ID }] },
      },
      { type: 'aclTokenDelete', accessorId: 'nobody' },
    ]);
    const copy = new Fsm('dc1');
    copy.restore(fsm.snapshot());
    expect(copy.store.dump()).toEqual(fsm.store.dump());
    expect(copy.store.aclTokenBySecret(S2)?.AccessorID).toBe(A2);
    expect(copy.store.aclTokenList(readers.ID).value.map((t) => t.AccessorID)).toEqual([A2]);
    expect(copy.store.aclTokenGet(A1).value?.Policies).toEqual([
      { ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: 'global-management' },
    ]);
    expect(copy.store.aclCanBootstrap()).toEqual({ allowed: false, resetIndex: 3 });
    expect(copy.store.tableIndex('aclTokens')).toBe(4); // deleting an unknown token changes nothing
  });

  it('loads a snapshot taken before ACLs existed as no ACL state', () => {
    const old = new Fsm('dc1');
    const d = old.store.dump();
    delete d.acl;
    const copy = new Fsm('dc1');
    copy.store.load(d);
    expect(copy.store.aclCanBootstrap()).toEqual({ allowed: true, resetIndex: 0 });
  });
});

describe('ACL.Bootstrap with the reset file', () => {
  it('allows one more bootstrap when the file names the last bootstrap index, and removes the file', async () => {
    const fsm = new Fsm('dc1');
    let index = 0;
    const apply = (cmd: FsmCommand): Promise<unknown> => {
      const r = fsm.apply(++index, encodeCommand(cmd));
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    };
    const config = { ...defaultConfig().acl, enabled: true };
    let file = 0;
    let consumed = 0;
    const ctx = {
      store: fsm.store,
      apply,
      acl: {
        config,
        resolver: new StoreResolver(fsm.store, config),
        newId: () => randomUUID(),
        now: () => T,
        bootstrapReset: { read: () => file, consume: () => ((file = 0), consumed++) },
      },
    } as unknown as EndpointContext;
    const boot = () =>
      endpoints['ACL.Bootstrap'].run(ctx, {}) as Promise<{ AccessorID: string; CreateIndex: number }>;
    const first = await boot();
    await expect(boot()).rejects.toThrow(
      `ACL bootstrap no longer allowed (reset index: ${first.CreateIndex})`,
    );
    file = first.CreateIndex + 7;
    await expect(boot()).rejects.toThrow(
      `Invalid bootstrap reset index (specified ${file}, reset index: ${first.CreateIndex})`,
    );
    expect(consumed).toBe(0);
    file = first.CreateIndex;
    const second = await boot();
    expect(second.AccessorID).not.toBe(first.AccessorID);
    expect(consumed).toBe(1);
    await expect(boot()).rejects.toThrow(`reset index: ${second.CreateIndex}`);
  });
});

describe('config', () => {
  it('reads the acl block', () => {
    const c = defaultConfig();
    applyConfigObject(
      c,
      {
        acl: {
          enabled: true,
          default_policy: 'deny',
          down_policy: 'async-cache',
          token_ttl: '45s',
          enable_key_list_policy: true,
          tokens: { initial_management: 'im', agent: 'ag', default: 'df' },
        },
      },
      'test',
    );
    expect(c.acl).toEqual({
      enabled: true,
      defaultPolicy: 'deny',
      downPolicy: 'async-cache',
      tokenTtlMs: 45_000,
      enableKeyListPolicy: true,
      enableTokenPersistence: false,
      tokens: { initialManagement: 'im', agent: 'ag', default: 'df' },
    });
  });

  it("reads Consul's legacy names", () => {
    const c = defaultConfig();
    applyConfigObject(
      c,
      {
        acl_datacenter: 'dc1',
        acl_default_policy: 'deny',
        acl_down_policy: 'extend-cache',
        acl_ttl: '10s',
        acl_master_token: 'm',
        acl_agent_token: 'a',
        acl_token: 't',
      },
      'test',
    );
    expect(c.acl).toMatchObject({
      enabled: true,
      defaultPolicy: 'deny',
      tokenTtlMs: 10_000,
      tokens: { initialManagement: 'm', agent: 'a', default: 't' },
    });
    const d = defaultConfig();
    applyConfigObject(d, { acl: { tokens: { master: 'old' } } }, 'test');
    expect(d.acl.tokens.initialManagement).toBe('old');
  });

  it('refuses unknown policies and keys', () => {
    expect(() => applyConfigObject(defaultConfig(), { acl: { default_policy: 'maybe' } }, 'f')).toThrow(
      /acl.default_policy: expected one of allow, deny/,
    );
    expect(() => applyConfigObject(defaultConfig(), { acl: { roles: [] } }, 'f')).toThrow(
      /unknown key "roles"/,
    );
  });
});

describe('secrets', () => {
  it('never reach a log line', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger({ level: 'info', json: true, stream });
    log.info({ token: 's3cret-1' }, 'a');
    log.info({ args: { token: 's3cret-2' }, SecretID: 's3cret-3' }, 'b');
    log.info({ req: { headers: { 'x-consul-token': 's3cret-4', authorization: 'Bearer s3cret-5' } } }, 'c');
    log.info({ config: { acl: { tokens: { agent: 's3cret-6' } } } }, 'd');
    log.info({ acl: { tokens: { default: 's3cret-7' } } }, 'e');
    const all = lines.join('');
    expect(all).not.toMatch(/s3cret/);
    expect(all.match(/\[Redacted\]/g)?.length).toBeGreaterThanOrEqual(6);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ token: '[Redacted]', msg: 'a' });
  });

  it('are compared in constant time (equal and unequal, any lengths)', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abc', 'abd')).toBe(false);
    expect(secretsEqual('abc', 'abcd')).toBe(false);
    expect(secretsEqual('', '')).toBe(true);
  });

  it('persisted agent tokens are written 0600 and replace the config values at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acl-tokens-'));
    try {
      const c = defaultConfig();
      c.dataDir = dir;
      c.acl.enableTokenPersistence = true;
      c.acl.tokens.default = 'from-config';
      await setAgentToken(c, 'agent', 'agent-secret');
      const p = join(dir, TOKENS_FILE);
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(p, 'utf8'))).toEqual({ default: 'from-config', agent: 'agent-secret' });
      const next = defaultConfig();
      next.dataDir = dir;
      next.acl.enableTokenPersistence = true;
      loadPersistedTokens(next);
      expect(next.acl.tokens).toMatchObject({ default: 'from-config', agent: 'agent-secret' });
      const off = defaultConfig();
      off.dataDir = dir;
      loadPersistedTokens(off);
      expect(off.acl.tokens.agent).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('token files are written mode 0600, even over a file that had another mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acl-secret-'));
    try {
      const p = join(dir, 'sub', 'acl-tokens.json');
      await writeSecretFile(p, '{"agent":"x"}');
      expect(statSync(p).mode & 0o777).toBe(0o600);
      writeFileSync(`${p}.tmp`, 'stale', { mode: 0o644 });
      await writeSecretFile(p, '{"agent":"y"}');
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(readFileSync(p, 'utf8')).toBe('{"agent":"y"}');
      expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
