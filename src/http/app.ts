// The HTTP API as a Hono app: createApp(deps) wires the one route table (routes/index.ts) with
// Consul's conventions: 405 with Allow for a known path and a wrong method, text/plain errors with
// Consul's status codes, and no handler exception ever escaping as anything but a 500.

import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { ConsulError, ErrorCode, httpStatusOf, toConsulError } from '../core/errors.js';
import type { Agent } from '../agent/agent.js';
import type { AgentConfig } from '../config/config.js';
import { routes } from './routes/index.js';
import { outgoingOf, urlOf } from './request.js';
import { text } from './respond.js';
import { mountUi } from './ui.js';
import { routeTiming } from './route-timing.js';

/** What the HTTP layer needs from the agent (agent/agent.ts). */
export type HttpAgent = Pick<
  Agent,
  | 'config'
  | 'nodeId'
  | 'startedAt'
  | 'rng'
  | 'forwarder'
  | 'dns'
  | 'raftStatus'
  | 'lan'
  | 'events'
  | 'httpAddr'
  | 'fireEvent'
  | 'join'
  | 'joinWan'
  | 'wanPool'
  | 'knownDatacenters'
  | 'leave'
  | 'currentServer'
  | 'local'
  | 'acl'
  | 'logs'
  | 'reload'
  | 'metrics'
>;

export interface HttpDeps {
  agent: HttpAgent;
  logger: Logger;
}

export type RouteHandler = (c: Context, deps: HttpDeps) => Promise<Response> | Response;
export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
export interface Route {
  path: string;
  methods: Partial<Record<Method, RouteHandler>>;
}

export function createApp(deps: HttpDeps): Hono {
  const app = new Hono();
  // Consul's header on every response: the default policy, 'allow' while ACLs are off.
  // (Partial agents in tests may carry no acl block: ACLs off.)
  const acl = deps.agent.config.acl as AgentConfig['acl'] | undefined;
  const defaultPolicy = acl?.enabled === true ? acl.defaultPolicy : 'allow';
  // consul.api.http (partial agents in tests may carry no metrics: nothing is timed).
  const metrics = deps.agent.metrics as HttpAgent['metrics'] | undefined;
  const timing = metrics ? routeTiming(metrics) : null;
  if (timing) app.use('*', timing.middleware);
  app.use('*', async (c, next) => {
    // On Node's response, where the handler's own headers join it when they are written: touching
    // c.res.headers would turn the handler's plain header record into a web Headers object for
    // every response (a tenth of a small read's cost).
    const out = outgoingOf(c);
    if (out) out.setHeader('X-Consul-Default-ACL-Policy', defaultPolicy);
    await next();
    if (!out) c.res.headers.set('X-Consul-Default-ACL-Policy', defaultPolicy);
  });
  mountUi(app, deps.agent.config);
  for (const r of routes) {
    const allowed = Object.keys(r.methods).join(', ');
    app.all(r.path, (c) => {
      timing?.matched(c, r.path);
      const h = r.methods[c.req.method as Method];
      if (!h) return text(405, `method ${c.req.method} not allowed`, { Allow: allowed });
      return h(c, deps);
    });
  }
  app.notFound(() => text(404, '404 page not found'));
  app.onError((err, c) => {
    const e = toConsulError(err);
    const status = httpStatusOf[e.code];
    if (status >= 500 && e.code === ErrorCode.Internal) {
      deps.logger.error({ err, method: c.req.method, path: urlOf(c).pathname }, 'http: request failed');
    }
    return text(status, e.message);
  });
  return app;
}

export function assertNever(x: never): never {
  throw new ConsulError(ErrorCode.Internal, `unexpected ${String(x)}`);
}
