// consulate agent: starts an agent (server or client) with Consul's flags and config files.

import { setFlagsFromString } from 'node:v8';
import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../config/config.js';
import { loadAgentConfig } from '../../config/load.js';
import { createLogger } from '../../core/logger.js';
import { resolveAdvertiseNames } from '../../server/net.js';
import type { Io } from '../common.js';
import { readyFile } from '../ready-file.js';

export async function agentCommand(argv: string[], _io: Io): Promise<number> {
  const ready = readyFile();
  const config = loadAgentConfig(argv);
  // A client agent runs on every machine and does little: keep V8's young generation at its
  // initial size instead of letting a burst (a pool joining, a flurry of requests) grow it to
  // 16 MB per semi-space and keep it. In a 50-member pool this took idle agents from 78 to 70 MB
  // (median) for some more, cheap, scavenges. Servers keep V8's default: they hold the state and
  // carry the write and read load. The growth factor is read at each growth, so setting it now
  // applies (the maximum size is not: it is fixed when the heap is set up).
  if (!config.server) setFlagsFromString('--semi-space-growth-factor=1');
  await resolveAdvertiseNames(config);
  const warnings = validateConfig(config);
  const logger = createLogger({ level: config.logLevel, json: config.logJson });
  for (const w of warnings) logger.warn(w);
  const agent = new Agent(config, logger.child({ component: 'agent' }));
  try {
    await agent.start();
    ready.ready();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
    // /v1/agent/leave (consul leave) stops the agent from the inside.
    void agent.stopped.then(() => {
      ready.clear();
      resolve(0);
    });
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal: sig }, 'caught signal, shutting down');
      ready.clear();
      void agent.stop().then(() => resolve(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
