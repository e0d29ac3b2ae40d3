// The gateway on Node: the web-standard app (app.ts) and table (table.ts) served by
// @hono/node-server, with node-fetch.ts as the upstream fetch (measured faster than the built-in
// fetch for this hop, and without its 300 s headers timeout, which would cut blocking queries).

import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { createGatewayApp } from './app.js';
import type { GatewayConfig } from './config.js';
import { webFetch } from './fetch.js';
import { createNodeFetch } from './node-fetch.js';
import { RoutingTable } from './table.js';

export interface RunningGateway {
  /** host:port it listens on. */
  address: string;
  port: number;
  table: RoutingTable;
  /** Stops the table's queries, closes the listener and every connection. */
  stop(): Promise<void>;
}

export async function startGateway(
  cfg: GatewayConfig,
  logger: Logger,
  /** 'web' runs the app on the platform's fetch instead (tests and the benchmark compare both). */
  upstream: 'node' | 'web' = cfg.upstreamFetch,
): Promise<RunningGateway> {
  const nodeFetch = createNodeFetch({ connectTimeoutMs: cfg.connectTimeoutMs, tls: cfg.tls });
  const fetch = upstream === 'node' ? nodeFetch : webFetch;
  const table = new RoutingTable({
    seeds: cfg.servers,
    datacenter: cfg.datacenter,
    fetch,
    log: logger,
    waitMs: cfg.blockingWaitMs,
    idleMs: cfg.idleTimeoutMs,
    downMs: cfg.downTimeMs,
  });
  const app = createGatewayApp({
    table,
    fetch,
    domain: cfg.domain,
    maxAttempts: cfg.maxAttempts,
    log: logger,
    clientAddress: (c) =>
      (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: cfg.port, hostname: cfg.clientAddr }, () =>
      resolve(s as Server),
    );
    s.once('error', reject);
  });
  // Proxied blocking queries may legitimately take up to 10 minutes.
  server.requestTimeout = 0;
  table.start();
  const port = (server.address() as AddressInfo).port;
  const host = cfg.clientAddr.includes(':') ? `[${cfg.clientAddr}]` : cfg.clientAddr;
  return {
    address: `${host}:${port}`,
    port,
    table,
    stop: async () => {
      table.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      nodeFetch.close();
    },
  };
}
