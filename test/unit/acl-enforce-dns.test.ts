// DNS under ACLs (default deny): queries carry no token, so they act with the agent's default
// token (acl.tokens.default), else the anonymous token, and see only what it may read; setting
// the default token with PUT /v1/agent/token/default takes effect at once (the cache is flushed).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAclDevAgent, type DevAgent } from '../support/dev-agent.js';
import { T, addresses, udp } from '../support/dns.js';

let dev: DevAgent;
let port = 0;
let root = '';

async function call(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return dev.app.request(path, {
    method,
    headers: { 'X-Consul-Token': token },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

beforeAll(async () => {
  dev = await startAclDevAgent((c) => {
    c.ports.dns = 0;
  });
  port = Number(dev.agent.dnsAddr?.split(':').at(-1));
  root = (
    (await (await dev.app.request('/v1/acl/bootstrap', { method: 'PUT' })).json()) as { SecretID: string }
  ).SecretID;
  for (const [node, addr] of [
    ['web-1', '10.0.0.1'],
    ['web-2', '10.0.0.2'],
  ] as const) {
    const r = await call('PUT', '/v1/catalog/register', root, {
      Node: node,
      Address: addr,
      Service: { ID: 'web', Service: 'web', Port: 80 },
    });
    expect(r.status).toBe(200);
  }
});
afterAll(() => dev.stop());

describe('DNS with ACLs on', () => {
  it('answers only what the default token may read', async () => {
    expect(addresses(await udp(port, 'web.service.consul', T.A))).toEqual([]);
    expect(addresses(await udp(port, 'web-1.node.consul', T.A))).toEqual([]);

    const p = await call('PUT', '/v1/acl/policy', root, {
      Name: 'dns',
      Rules: 'service "web" { policy = "read" }\nnode "web-1" { policy = "read" }',
    });
    const t = await call('PUT', '/v1/acl/token', root, {
      Policies: [{ ID: ((await p.json()) as { ID: string }).ID }],
    });
    const secret = ((await t.json()) as { SecretID: string }).SecretID;
    // Setting the default token forgets the answers filtered with the old one.
    const set = await call('PUT', '/v1/agent/token/default', root, { Token: secret });
    expect(set.status).toBe(200);
    // web-2's node is not readable: its instance is left out.
    expect(addresses(await udp(port, 'web.service.consul', T.A))).toEqual(['10.0.0.1']);
    expect(addresses(await udp(port, 'web-1.node.consul', T.A))).toEqual(['10.0.0.1']);
    expect(addresses(await udp(port, 'web-2.node.consul', T.A))).toEqual([]);
  });
});
