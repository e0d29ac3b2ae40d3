// The anti-entropy driver against an in-memory catalog: what it sends for local changes, throttled
// output, retries after a failure, and a registration the catalog refuses not blocking the others.
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeRecord } from '../../src/agent/local/ae-plan.js';
import { LocalAgent } from '../../src/agent/local/local-agent.js';
import { defaultConfig } from '../../src/config/config.js';
import { ConsulError, ErrorCode, badRequest } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { seededRng } from '../../src/core/rng.js';
import type { HealthCheck, NodeService, RegisterRequest } from '../../src/state/types.js';

const me: NodeRecord = {
  ID: 'aaaaaaaa-2222-3333-4444-555555555555',
  Node: 'n1',
  Address: '10.0.0.5',
  TaggedAddresses: {},
  Meta: {},
};

/** Just enough of the catalog for one node, with a log of the writes it received. */
class FakeCatalog {
  node: {
    ID: string;
    Address: string;
    TaggedAddresses: Record<string, string>;
    Meta: Record<string, string>;
  } | null = null;
  services = new Map<string, NodeService>();
  checks = new Map<string, HealthCheck>();
  writes: string[] = [];
  failNext = 0;
  refuseService = '';

  call = (method: string, args: unknown): Promise<unknown> => {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new ConsulError(ErrorCode.NoLeader, 'No cluster leader'));
    }
    const meta = { index: 1, knownLeader: true, lastContact: 0, consistency: 'leader' };
    switch (method) {
      case 'Catalog.NodeServices':
        return Promise.resolve({
          value: this.node
            ? {
                Node: { ...this.node, Node: 'n1', Datacenter: 'dc1', CreateIndex: 1, ModifyIndex: 1 },
                Services: Object.fromEntries(this.services),
              }
            : null,
          meta,
        });
      case 'Health.NodeChecks':
        return Promise.resolve({ value: [...this.checks.values()], meta });
      case 'Catalog.Register': {
        const r = (args as { req: RegisterRequest }).req;
        if (r.Service && r.Service.ID === this.refuseService)
          return Promise.reject(badRequest('Invalid service'));
        if (!r.SkipNodeUpdate || !this.node) {
          this.node = {
            ID: r.ID ?? '',
            Address: r.Address ?? '',
            TaggedAddresses: r.TaggedAddresses ?? {},
            Meta: r.NodeMeta ?? {},
          };
          this.writes.push('node');
        }
        if (r.Service) {
          const s = r.Service;
          this.services.set(s.ID ?? s.Service, {
            ID: s.ID ?? s.Service,
            Service: s.Service,
            Tags: s.Tags ?? [],
            Address: s.Address ?? '',
            TaggedAddresses: s.TaggedAddresses ?? {},
            Meta: s.Meta ?? {},
            Port: s.Port ?? 0,
            Weights: s.Weights ?? { Passing: 1, Warning: 1 },
            EnableTagOverride: s.EnableTagOverride ?? false,
            CreateIndex: 1,
            ModifyIndex: 1,
          });
          this.writes.push(`service:${s.ID}`);
        }
        for (const c of [...(r.Check ? [r.Check] : []), ...(r.Checks ?? [])]) {
          this.checks.set(c.CheckID ?? '', {
            Node: 'n1',
            CheckID: c.CheckID ?? '',
            Name: c.Name ?? '',
            Status: c.Status || 'critical',
            Notes: c.Notes ?? '',
            Output: c.Output ?? '',
            ServiceID: c.ServiceID ?? '',
            ServiceName: '',
            ServiceTags: [],
            Type: c.Type ?? '',
            Definition: c.Definition ?? {},
            CreateIndex: 1,
            ModifyIndex: 1,
          });
          this.writes.push(`check:${c.CheckID}=${c.Status}/${c.Output}`);
        }
        return Promise.resolve(true);
      }
      case 'Catalog.Deregister': {
        const r = (args as { req: { ServiceID?: string; CheckID?: string } }).req;
        if (r.ServiceID) {
          this.services.delete(r.ServiceID);
          for (const [id, c] of this.checks) if (c.ServiceID === r.ServiceID) this.checks.delete(id);
          this.writes.push(`-service:${r.ServiceID}`);
        } else if (r.CheckID) {
          this.checks.delete(r.CheckID);
          this.writes.push(`-check:${r.CheckID}`);
        }
        return Promise.resolve(true);
      }
      default:
        return Promise.reject(new Error(`unexpected ${method}`));
    }
  };
}

const agents: LocalAgent[] = [];
afterEach(() => {
  for (const a of agents.splice(0)) a.stop();
});

function start(
  cat: FakeCatalog,
  over: (c: ReturnType<typeof defaultConfig>) => void = () => undefined,
): LocalAgent {
  const config = defaultConfig();
  config.dev = true;
  over(config);
  const a = new LocalAgent({
    config,
    node: () => me,
    call: cat.call,
    clusterSize: () => 3,
    rng: seededRng(3),
    logger: silentLogger(),
    startCheck: () => ({ stop() {}, heartbeat() {} }),
  });
  agents.push(a);
  a.load();
  a.startSync();
  return a;
}

async function until(fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('anti-entropy driver', () => {
  it('registers the node, then each change as it happens, a service with its checks in one request', async () => {
    const cat = new FakeCatalog();
    const a = start(cat);
    await until(() => cat.writes.includes('node'));
    await a.ae.idle();
    cat.writes = [];
    a.registerService({ Name: 'web', Check: { CheckID: 'w', TTL: '1m' } }, false);
    await until(() => cat.writes.length >= 2);
    await a.ae.idle();
    expect(cat.writes).toEqual(['service:web', 'check:w=critical/']);
    cat.writes = [];
    a.updateTtl('w', 'passing', 'ok');
    await until(() => cat.writes.length > 0);
    expect(cat.writes).toEqual(['check:w=passing/ok']);
    cat.writes = [];
    a.deregisterService('web');
    await until(() => cat.writes.length > 0);
    expect(cat.writes).toEqual(['-service:web']);
    expect(a.ae.status().failures).toBe(0);
  });

  it('holds output-only changes for check_update_interval', async () => {
    const cat = new FakeCatalog();
    const a = start(cat, (c) => (c.checkUpdateIntervalMs = 2000));
    a.registerCheck({ Name: 'c', TTL: '1m' });
    a.updateTtl('c', 'passing', 'one');
    await until(() => cat.checks.get('c')?.Output === 'one');
    await a.ae.idle();
    cat.writes = [];
    a.updateTtl('c', 'passing', 'two');
    a.updateTtl('c', 'passing', 'three');
    await new Promise((r) => setTimeout(r, 300));
    expect(cat.writes).toEqual([]);
    await until(() => cat.checks.get('c')?.Output === 'three');
    expect(cat.writes).toEqual(['check:c=passing/three']);
    // A status change is not held back.
    cat.writes = [];
    a.updateTtl('c', 'critical', 'three');
    await until(() => cat.writes.length > 0, 200);
  });

  it('retries after a failure, and skips a registration the catalog refuses', async () => {
    const cat = new FakeCatalog();
    cat.failNext = 2;
    cat.refuseService = 'bad';
    const a = start(cat);
    a.registerService({ Name: 'bad' }, false);
    a.registerService({ Name: 'good' }, false);
    await until(() => a.ae.status().failures > 0);
    // The retry is a full sync after about a second.
    await until(() => cat.services.has('good'), 8000);
    expect(cat.services.has('bad')).toBe(false);
    expect(a.state.serviceSlot('bad')?.inSync).toBe(false);
    expect(a.ae.status().failures).toBe(0);
  });

  it('a full sync puts back what the catalog lost and removes what the agent does not know', async () => {
    const cat = new FakeCatalog();
    const a = start(cat, (c) => (c.aeIntervalMs = 200));
    a.registerService({ Name: 'keep' }, false);
    await until(() => cat.services.has('keep'));
    cat.services.delete('keep');
    cat.services.set('stray', {
      ...(a.state.service('keep') as NodeService),
      ID: 'stray',
      Service: 'stray',
      CreateIndex: 1,
      ModifyIndex: 1,
    });
    cat.checks.set('serfHealth', {
      Node: 'n1',
      CheckID: 'serfHealth',
      Name: 'Serf Health Status',
      Status: 'passing',
      Notes: '',
      Output: '',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: '',
      Definition: {},
      CreateIndex: 1,
      ModifyIndex: 1,
    });
    await until(() => cat.services.has('keep') && !cat.services.has('stray'), 5000);
    expect(cat.checks.has('serfHealth')).toBe(true);
    expect(a.ae.status().lastFullSync).toBeGreaterThan(0);
  });
});

describe('check runners', () => {
  it('starts one runner per check, replaces it on re-registration, and keeps it when a registration is refused', () => {
    const events: string[] = [];
    const config = defaultConfig();
    config.dev = true;
    const a = new LocalAgent({
      config,
      node: () => me,
      call: () => Promise.reject(new Error('unused')),
      clusterSize: () => 1,
      rng: seededRng(1),
      logger: silentLogger(),
      startCheck: (def) => {
        events.push(`start ${def.CheckID}`);
        return {
          stop: () => events.push(`stop ${def.CheckID}`),
          heartbeat: () => events.push(`beat ${def.CheckID}`),
        };
      },
    });
    agents.push(a);
    a.load();
    a.registerCheck({ Name: 'disk', TTL: '1m' });
    a.registerCheck({ Name: 'disk', TTL: '2m' });
    expect(() => a.registerCheck({ Name: 'disk', TTL: '2m', ServiceID: 'ghost' })).toThrow(
      'ServiceID "ghost" does not exist',
    );
    a.updateTtl('disk', 'passing', '');
    a.deregisterCheck('disk');
    expect(events).toEqual(['start disk', 'stop disk', 'start disk', 'beat disk', 'stop disk']);
  });
});

describe('pausing before a leave', () => {
  it('lets the sync under way finish, then sends nothing more', async () => {
    const cat = new FakeCatalog();
    const slow = cat.call;
    let inFlight = 0;
    cat.call = async (method, args) => {
      inFlight++;
      await new Promise((r) => setTimeout(r, 100));
      try {
        return await slow(method, args);
      } finally {
        inFlight--;
      }
    };
    const a = start(cat);
    await until(() => inFlight > 0);
    await a.pauseSync();
    expect(inFlight).toBe(0);
    const writes = cat.writes.length;
    a.registerService({ Name: 'late' }, false);
    await new Promise((r) => setTimeout(r, 300));
    expect(cat.writes.length).toBe(writes);
    expect(cat.services.has('late')).toBe(false);
  });
});
