// Two in-process agents over real UDP (a dev server and a client joined to it, fast gossip): each
// learns the other's coordinate from probe acks, and the client's LAN coordinate reaches the
// catalog through its server (client routing, the leader's batch), where ?near sorts by it.
import { expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/core/logger.js';
import { distanceMs } from '../../src/coordinate/vivaldi.js';
import { clientConfigFor, startAclDevAgent, startDevAgent } from '../support/dev-agent.js';

it('a client and a server exchange coordinates over gossip and the client\u2019s reaches the catalog', async () => {
  const dev = await startDevAgent((c) => {
    c.coordinates.sync.intervalMinMs = 200;
  });
  const c = clientConfigFor(dev, 'client-1', (x) => {
    x.coordinates.sync.intervalMinMs = 200;
  });
  const client = new Agent(c, silentLogger());
  try {
    await client.start();
    const deadline = Date.now() + 15_000;
    let nodes: string[] = [];
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await dev.app.request('/v1/coordinate/nodes');
      nodes = ((await r.json()) as { Node: string }[]).map((e) => e.Node);
      if (nodes.includes('client-1') && client.lan.coordinateOf('test-node')) break;
    }
    expect(nodes).toContain('client-1');
    expect(client.lan.coordinateOf('test-node')).not.toBeNull();
    expect(dev.agent.lan.coordinateOf('client-1')).not.toBeNull();
    expect(client.lan.coordinate()).not.toEqual(dev.agent.lan.coordinate());
    // Loopback: well under the 10 ms a real network hop would take.
    expect(distanceMs(client.lan.coordinate(), dev.agent.lan.coordinate())).toBeLessThan(10);
    expect(client.coordinateSync?.sent).toBeGreaterThan(0);
  } finally {
    await client.stop();
    await dev.stop();
  }
}, 30_000);

it("with ACLs on and default deny, an agent's own coordinate reaches the catalog with its agent token", async () => {
  const secret = '11111111-2222-3333-4444-555555555555';
  const dev = await startAclDevAgent((c) => {
    c.coordinates.sync.intervalMinMs = 200;
    c.acl.tokens.initialManagement = secret;
    c.acl.tokens.agent = secret;
  });
  try {
    const deadline = Date.now() + 15_000;
    let nodes: string[] = [];
    while (Date.now() < deadline && !nodes.includes('test-node')) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await dev.app.request('/v1/coordinate/nodes', { headers: { 'X-Consul-Token': secret } });
      nodes = ((await r.json()) as { Node: string }[]).map((e) => e.Node);
    }
    expect(nodes).toContain('test-node');
  } finally {
    await dev.stop();
  }
});
