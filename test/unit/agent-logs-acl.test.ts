// ACLs on the monitor and reload routes (Consul: agent:read for the monitor, agent:write for a
// reload), on an agent with ACLs on and default deny.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLogsAgent, type LogsAgent } from '../support/logs-agent.js';

const ROOT = '6f1b1c5e-54b4-4c0e-9b39-7f3c1a3b9d01';

let dir: string;
let a: LogsAgent;
let reader: string;

const config = {
  log_level: 'info',
  acl: { enabled: true, default_policy: 'deny', tokens: { initial_management: ROOT } },
};

async function call(method: string, path: string, token?: string, body?: unknown): Promise<Response> {
  return fetch(`http://${a.addr}${path}`, {
    method,
    headers: token ? { 'X-Consul-Token': token } : {},
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'logs-acl-'));
  a = await startLogsAgent(join(dir, 'agent.json'), config);
  // The leader creates the initial management token once it leads.
  const deadline = Date.now() + 10_000;
  while ((await call('GET', '/v1/acl/token/self', ROOT)).status !== 200) {
    if (Date.now() > deadline) throw new Error('the initial management token did not appear');
    await new Promise((r) => setTimeout(r, 25));
  }
  const p = await call('PUT', '/v1/acl/policy', ROOT, {
    Name: 'agent-read',
    Rules: 'agent "logs-node" { policy = "read" }',
  });
  expect(p.status).toBe(200);
  const policyId = ((await p.json()) as { ID: string }).ID;
  const t = await call('PUT', '/v1/acl/token', ROOT, { Policies: [{ ID: policyId }] });
  expect(t.status).toBe(200);
  reader = ((await t.json()) as { SecretID: string }).SecretID;
});

afterAll(async () => {
  await a?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('ACLs on /v1/agent/monitor and /v1/agent/reload', () => {
  it('monitor: 403 without a token, 200 with agent:read', async () => {
    const denied = await call('GET', '/v1/agent/monitor');
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain('Permission denied');
    const ac = new AbortController();
    const ok = await fetch(`http://${a.addr}/v1/agent/monitor`, {
      headers: { 'X-Consul-Token': reader },
      signal: ac.signal,
    });
    expect(ok.status).toBe(200);
    ac.abort();
  });

  it('reload: 403 without a token and with agent:read only, 200 with agent:write', async () => {
    expect((await call('PUT', '/v1/agent/reload')).status).toBe(403);
    expect((await call('PUT', '/v1/agent/reload', reader)).status).toBe(403);
    const ok = await call('PUT', '/v1/agent/reload', ROOT);
    expect(ok.status).toBe(200);
  });
});
