// consulate maint [-enable | -disable] [-reason TEXT] [-service ID]: Consul's `consul maint`, through
// the local agent's HTTP API. Without -enable or -disable it lists what is in maintenance.

import { clientFrom, flagBool, flagString, parseArgs, UsageError, type Io } from '../common.js';

interface AgentCheck {
  CheckID: string;
  ServiceID: string;
  Notes: string;
}

const NODE_MAINT = '_node_maintenance';
const SERVICE_MAINT = '_service_maintenance:';

export async function maintCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { enable: 'bool', disable: 'bool', reason: 'value', service: 'value' });
  if (p.args.length > 0) throw new UsageError('Too many arguments (maint takes flags only)');
  const enable = flagBool(p, 'enable');
  const disable = flagBool(p, 'disable');
  const reason = flagString(p, 'reason') ?? '';
  const service = flagString(p, 'service');
  if (enable && disable) throw new UsageError('Only one of -enable or -disable may be provided');
  if (!enable && reason !== '') throw new UsageError('Reason may only be provided with -enable');
  if (!enable && !disable && service !== undefined) {
    throw new UsageError('Service requires either -enable or -disable');
  }
  const client = clientFrom(p, io);

  if (!enable && !disable) {
    const self = await client.json<{ Config: { NodeName: string } }>('GET', '/v1/agent/self');
    const checks = await client.json<Record<string, AgentCheck>>('GET', '/v1/agent/checks');
    for (const c of Object.values(checks)) {
      if (c.CheckID === NODE_MAINT) {
        io.out(`Node:\n  Name:   ${self.Config.NodeName}\n  Reason: ${c.Notes}\n\n`);
      } else if (c.CheckID.startsWith(SERVICE_MAINT)) {
        io.out(`Service:\n  ID:     ${c.ServiceID}\n  Reason: ${c.Notes}\n\n`);
      }
    }
    return 0;
  }

  const query = { enable: enable ? 'true' : 'false', ...(enable && reason !== '' ? { reason } : {}) };
  if (service !== undefined) {
    await client.ok('PUT', `/v1/agent/service/maintenance/${encodeURIComponent(service)}`, { query });
    io.out(`Service maintenance is now ${enable ? 'enabled' : 'disabled'} for "${service}"\n`);
  } else {
    await client.ok('PUT', '/v1/agent/maintenance', { query });
    io.out(`Node maintenance is now ${enable ? 'enabled' : 'disabled'}\n`);
  }
  return 0;
}
