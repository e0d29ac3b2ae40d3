// The agent's `watches` block at run time: one loop per plan against the agent's own HTTP address
// (Consul runs config watches through its own HTTP API too), each handler's outcome logged.

import type { Logger } from 'pino';
import { ConsulClient, type ClientOptions } from '../client/client.js';
import { runHandler } from './handlers.js';
import { WatchLoop, type Backoff } from './loop.js';
import { describeTarget, type WatchPlan } from './plan.js';
import { deltaFor, httpFetcher } from './queries.js';

export interface WatchSet {
  stop(): Promise<void>;
}

/** A client for one plan: its datacenter and token go out as ?dc= and X-Consul-Token. */
export function clientForPlan(address: string, plan: WatchPlan, base: ClientOptions = {}): ConsulClient {
  const o: ClientOptions = { ...base, address };
  if (plan.datacenter !== '') o.datacenter = plan.datacenter;
  if (plan.token !== '') o.token = plan.token;
  if (plan.stale) o.stale = true;
  return new ConsulClient(o);
}

/**
 * Runs the agent's watches against its own API: `api` is its HTTP address, or (HTTP disabled) its
 * HTTPS one with the TLS settings to reach it; null when neither listens.
 */
export function startWatches(
  plans: WatchPlan[],
  api: ClientOptions | null,
  logger: Logger,
  backoff?: Backoff,
): WatchSet {
  if (plans.length === 0) return { stop: async () => undefined };
  if (api === null || api.address === undefined) {
    logger.warn(
      { watches: plans.length },
      'watches need the HTTP or HTTPS API (both are disabled); not started',
    );
    return { stop: async () => undefined };
  }
  // An agent listening on every interface is reached through loopback.
  const address = api.address.replace(/^(https:\/\/)?0\.0\.0\.0:/, '$1127.0.0.1:');
  const loops = plans.map((plan) => {
    const what = describeTarget(plan.target);
    const handler = plan.handler;
    const loop = new WatchLoop({
      fetch: httpFetcher(clientForPlan(address, plan, api), plan.target),
      delta: deltaFor(plan.target),
      ...(backoff ? { backoff } : {}),
      onError: (err, retryMs) =>
        logger.error({ watch: what, retryMs, err: (err as Error).message }, 'watch errored'),
      handler: async (index, value) => {
        if (!handler) return;
        const r = await runHandler(handler, index, value);
        if (r.ok) logger.debug({ watch: what, index, output: r.output }, 'watch handler ran');
        else logger.error({ watch: what, index, err: r.error, output: r.output }, 'watch handler failed');
      },
    });
    void loop.run();
    logger.debug({ watch: what }, 'watch started');
    return loop;
  });
  return {
    // Queries in flight are cancelled at once; a handler still running is left to finish on its
    // own rather than holding up the agent's shutdown.
    stop: async () => {
      for (const l of loops) void l.stop();
    },
  };
}
