// consulate agent: starts an agent (server or client) with Consul's flags and config files.

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
