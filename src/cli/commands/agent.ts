// consulate agent: starts a server agent with Consul's flags and config files.

import { validateConfig } from '../../config/config.js';
import { loadAgentConfig } from '../../config/load.js';
import { createLogger } from '../../core/logger.js';
import { ServerAgent } from '../../server/server.js';
import type { Io } from '../common.js';

export async function agentCommand(argv: string[], _io: Io): Promise<number> {
  const config = loadAgentConfig(argv);
  const warnings = validateConfig(config);
  const logger = createLogger({ level: config.logLevel, json: config.logJson });
  for (const w of warnings) logger.warn(w);
  const agent = new ServerAgent(config, logger.child({ component: 'agent' }));
  try {
    await agent.start();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
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
