// An in-process dev agent started as `consulate agent` starts one: from flags and a config file,
// with the log fan-out (LogHub) behind its logger and a config source for reloads, listening on a
// real HTTP port. Its own log output (what stdout would get) is kept in `output`.

import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Agent } from '../../src/agent/agent.js';
import { validateConfig, type AgentConfig } from '../../src/config/config.js';
import { loadAgentConfig } from '../../src/config/load.js';
import { LogHub } from '../../src/core/logger.js';

export interface LogsAgent {
  agent: Agent;
  hub: LogHub;
  /** What the agent wrote to its own output (stdout for a real agent). */
  output: { text: string };
  addr: string;
  writeConfig(obj: unknown): void;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (the server RPC port cannot be 0 once the config is validated). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function startLogsAgent(
  configFile: string,
  initial: unknown,
  extraFlags: string[] = [],
): Promise<LogsAgent> {
  const writeConfig = (obj: unknown): void => writeFileSync(configFile, JSON.stringify(obj));
  writeConfig(initial);
  const argv = [
    '-dev',
    '-node=logs-node',
    '-http-port=0',
    '-dns-port=-1',
    `-server-port=${await freePort()}`,
    '-serf-lan-port=0',
    '-serf-wan-port=0',
    `-config-file=${configFile}`,
    ...extraFlags,
  ];
  const load = (): AgentConfig => {
    const c = loadAgentConfig(argv);
    validateConfig(c);
    c.rpcHoldTimeoutMs = 1000;
    return c;
  };
  const config = load();
  const output = { text: '' };
  const hub = new LogHub(config.logLevel, [{ json: false, write: (l) => (output.text += l) }]);
  const agent = new Agent(config, hub.logger.child({ component: 'agent' }), {
    logs: hub,
    configSource: () => Promise.resolve(load()),
  });
  await agent.start();
  const driver = agent.server?.driver;
  const deadline = Date.now() + 10_000;
  while (!driver?.isLeader() || driver.appliedIndex() < 2) {
    if (Date.now() > deadline) throw new Error('the agent did not become leader');
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    agent,
    hub,
    output,
    addr: agent.httpAddr as string,
    writeConfig,
    stop: () => agent.stop(),
  };
}
