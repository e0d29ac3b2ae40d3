// An in-process single-server agent (dev mode: in memory) and its Hono app, for route tests that
// go through app.request() without sockets.

import type { Hono } from 'hono';
import { applyDev, defaultConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/core/logger.js';
import { createApp } from '../../src/http/app.js';
import { Agent } from '../../src/agent/agent.js';
import { ANONYMOUS_TOKEN_ID } from '../../src/acl/authorizer.js';

export interface DevAgent {
  agent: Agent;
  app: Hono;
  stop(): Promise<void>;
}

export async function startDevAgent(
  over: (c: ReturnType<typeof defaultConfig>) => void = () => undefined,
): Promise<DevAgent> {
  const c = defaultConfig();
  applyDev(c);
  c.nodeName = 'test-node';
  c.ports.http = -1;
  // DNS off unless a test asks for it (ports.dns = 0 picks a free port; agent.dnsAddr tells which).
  c.ports.dns = -1;
  c.ports.server = 0;
  c.ports.serfLan = 0;
  c.ports.serfWan = 0;
  c.rpcHoldTimeoutMs = 1000;
  over(c);
  const agent = new Agent(c, silentLogger());
  await agent.start();
  const driver = agent.server?.driver;
  if (!driver) throw new Error('dev agent has no server');
  const deadline = Date.now() + 10_000;
  while (!driver.isLeader() || driver.appliedIndex() < 2) {
    if (Date.now() > deadline) throw new Error('dev agent did not become leader');
    await new Promise((r) => setTimeout(r, 10));
  }
  const app = createApp({ agent, logger: silentLogger() });
  return { agent, app, stop: () => agent.stop() };
}

/**
 * A dev agent with ACLs on and default_policy deny (`over` may change more), returned once its
 * leader has created the anonymous token, so bootstrap and token resolution work at once.
 */
export async function startAclDevAgent(
  over: (c: ReturnType<typeof defaultConfig>) => void = () => undefined,
): Promise<DevAgent> {
  const dev = await startDevAgent((c) => {
    c.acl.enabled = true;
    c.acl.defaultPolicy = 'deny';
    over(c);
  });
  const store = dev.agent.server?.fsm.store;
  const deadline = Date.now() + 10_000;
  while (!store?.aclToken(ANONYMOUS_TOKEN_ID)) {
    if (Date.now() > deadline) throw new Error('the leader did not create the anonymous token');
    await new Promise((r) => setTimeout(r, 10));
  }
  return dev;
}

/**
 * The config of a client agent (in memory, no HTTP or DNS, gossip on a free port with the dev
 * agent's timings) that joins `dev`'s LAN pool at start; `over` may change more.
 */
export function clientConfigFor(
  dev: DevAgent,
  nodeName: string,
  over: (c: ReturnType<typeof defaultConfig>) => void = () => undefined,
): ReturnType<typeof defaultConfig> {
  const c = defaultConfig();
  c.dev = true;
  c.nodeName = nodeName;
  c.bindAddr = '127.0.0.1';
  c.ports.http = -1;
  c.ports.dns = -1;
  c.ports.serfLan = 0;
  c.gossipLan = { ...dev.agent.config.gossipLan };
  const me = dev.agent.lan.local();
  c.retryJoin = [`${me.addr}:${me.port}`];
  over(c);
  return c;
}
