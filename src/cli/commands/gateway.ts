// consulate gateway: runs the edge gateway of a datacenter (src/gateway/) until Ctrl-C.

import { createLogger } from '../../core/logger.js';
import { gatewayUsage, loadGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/main.js';
import type { Io } from '../common.js';
import { readyFile } from '../ready-file.js';

export async function gatewayCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help') || argv.includes('-help')) {
    io.out(gatewayUsage());
    return 0;
  }
  const ready = readyFile();
  const cfg = loadGatewayConfig(argv);
  const logger = createLogger({ level: cfg.logLevel, json: cfg.logJson }).child({
    component: 'gateway',
    ...(cfg.datacenter ? { dc: cfg.datacenter } : {}),
  });
  const gw = await startGateway(cfg, logger);
  // Listening is enough: the routing table fills in as the agents answer (GET /gateway/status).
  ready.ready();
  io.out(
    `Consulate gateway listening on http://${gw.address} (datacenter ${cfg.datacenter ?? 'from the servers'}; agents ${cfg.servers.join(', ')})\n`,
  );
  void gw.table.whenReady().then((ok) => {
    if (ok) logger.info({ dc: gw.table.localDc(), datacenters: gw.table.datacenters().join(' ') }, 'ready');
    else logger.warn({ agents: cfg.servers.join(' ') }, 'no directory yet; still trying the agents');
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) process.exit(1);
      stopping = true;
      logger.info({ signal: sig }, 'caught signal, shutting down');
      ready.clear();
      void gw.stop().then(() => resolve(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
