// Catalog rows for DNS tests that need no store: nodes, instances with checks.

import type { CheckServiceNode, CheckStatus, HealthCheck, Node } from '../../src/state/types.js';

export function node(name: string, address: string, meta: Record<string, string> = {}): Node {
  return {
    ID: '',
    Node: name,
    Address: address,
    Datacenter: 'dc1',
    TaggedAddresses: {},
    Meta: meta,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

export function check(status: CheckStatus, serviceId = ''): HealthCheck {
  return {
    Node: '',
    CheckID: `c-${status}-${serviceId}`,
    Name: '',
    Status: status,
    Notes: '',
    Output: '',
    ServiceID: serviceId,
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    Definition: {},
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

export function instance(
  nodeName: string,
  addr: string,
  o: {
    port?: number;
    serviceAddress?: string;
    checks?: CheckStatus[];
    weights?: { Passing: number; Warning: number };
  } = {},
): CheckServiceNode {
  return {
    Node: node(nodeName, addr),
    Service: {
      ID: `web-${nodeName}`,
      Service: 'web',
      Tags: [],
      Address: o.serviceAddress ?? '',
      TaggedAddresses: {},
      Meta: {},
      Port: o.port ?? 8080,
      Weights: o.weights ?? { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      CreateIndex: 1,
      ModifyIndex: 1,
    },
    Checks: (o.checks ?? ['passing']).map((s) => check(s)),
  };
}
