// GET /v1/agent/metrics: this agent's metrics in Consul's JSON, or in the Prometheus text format
// with ?format=prometheus or when the client accepts "text/plain; version=0.0.4" (as a Prometheus
// server's scrape does). ACL: agent:read on this agent (Consul's AgentMetrics).

import type { Context } from 'hono';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import type { HttpDeps } from '../app.js';
import { agentRead, guarded } from '../local-acl.js';
import { urlOf } from '../request.js';
import { json } from '../respond.js';

/** Whether an Accept header lists the Prometheus text exposition (text/plain; version=0.0.4). */
export function acceptsPrometheus(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    return type === 'text/plain' && params.some((p) => p.replace(/\s+/g, '') === 'version=0.0.4');
  });
}

async function metrics(c: Context, d: HttpDeps): Promise<Response> {
  const format = urlOf(c).searchParams.get('format');
  if (format !== null && format !== '' && format !== 'prometheus')
    throw new ConsulError(
      ErrorCode.BadRequest,
      `Invalid format "${format}": the only format is "prometheus"`,
    );
  const m = d.agent.metrics;
  if (format === 'prometheus' || acceptsPrometheus(c.req.header('Accept'))) {
    return new Response(await m.prometheus(), { headers: { 'Content-Type': m.prometheusContentType } });
  }
  return json(c, await m.json());
}

export const agentMetrics = guarded(agentRead, metrics);
