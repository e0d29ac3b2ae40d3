// consulate agent: starts an agent (server or client) with Consul's flags and config files.

import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../config/config.js';
import { loadAgentConfig } from '../../config/load.js';
import { createLogger } from '../../core/logger.js';
import type { Io } from '../common.js';

export async function agentCommand(argv: string[], _io: Io): Promise<number> {
  const config = loadAgentConfig(argv);
  const warnings = validateConfig(config);
  const logger = createLogger({ level: config.logLevel, json: config.logJson });
  for (const w of warnings) logger.warn(w);
  const agent = new Agent(config, logger.child({ component: 'agent' }));
  try {
    await agent.start();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
    // /v1/agent/leave (consul leave) stops the agent from the inside.
    void agent.stopped.then(() => resolve(0));
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal: sig }, 'caught signal, shutting down');
      void agent.stop().then(() => resolve(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
