// DNS names in other datacenters: the forwarding's answer decides the RCODE as in Consul's
// rCodeFromError. A datacenter nobody knows (ErrNoDCPath) is NXDOMAIN with the SOA; a known one
// that cannot be reached is SERVFAIL; neither is cached, so the name answers once the dc does.

import { afterEach, describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import type { Fetch } from '../../src/dns/cache.js';
import { instance } from '../support/dns-fixtures.js';
import { T, addresses, buildQuery, decode } from '../support/dns.js';
import { testHandler, type TestHandler } from '../support/dns-handler.js';

let h: TestHandler | null = null;
afterEach(() => {
  h?.stop();
  h = null;
});

async function ask(t: TestHandler, name: string, type: number = T.A): Promise<ReturnType<typeof decode>> {
  const r = await t.handler.handle(buildQuery(name, type), false);
  if (r === null) throw new Error('no reply');
  return decode(r);
}

/** Forwarding as a server with a WAN pool answers it: dc2 known, reachable or not; others unknown. */
function dcFetch(state: { dc2: 'up' | 'down' }): Fetch {
  return async (req) => {
    const dc = (req.args as { dc: string }).dc;
    if (dc === 'dc1' || (dc === 'dc2' && state.dc2 === 'up'))
      return { index: 1, value: [instance('web-1', '10.2.0.1')] };
    if (dc === 'dc2')
      throw new ConsulError(ErrorCode.DCUnavailable, 'rpc error: no reachable server in datacenter "dc2"');
    throw new ConsulError(ErrorCode.NoDCPath, 'No path to datacenter');
  };
}

describe('DNS and other datacenters', () => {
  it('answers a name in an unknown datacenter with NXDOMAIN and the SOA', async () => {
    const t = (h = testHandler({}, undefined, { fetch: dcFetch({ dc2: 'up' }) }));
    for (const name of ['web.service.dc9.consul', 'web-1.node.dc9.consul', '_web._tcp.service.dc9.consul']) {
      const r = await ask(t, name, name.startsWith('_') ? T.SRV : T.A);
      expect([r.header.rcode, r.answers.length, r.authorities[0]?.type], name).toEqual([3, 0, T.SOA]);
      expect(r.header.aa).toBe(1);
    }
    expect(t.cache.stats().fronts).toBe(0);
  });

  it('answers SERVFAIL for a known datacenter that cannot be reached, and answers once it is back', async () => {
    const state: { dc2: 'up' | 'down' } = { dc2: 'down' };
    const t = (h = testHandler({}, undefined, { fetch: dcFetch(state) }));
    expect((await ask(t, 'web.service.dc2.consul')).header.rcode).toBe(2);
    state.dc2 = 'up';
    expect(addresses(await ask(t, 'web.service.dc2.consul'))).toEqual(['10.2.0.1']);
  });
});
