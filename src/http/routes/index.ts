// The whole HTTP surface in one table (Consul's http_register.go): path, then a handler per method.

import type { Route } from '../app.js';
import * as acl from './acl.js';
import * as agent from './agent.js';
import * as autopilot from './autopilot.js';
import * as local from './agent-local.js';
import { agentMonitor, agentReload } from './agent-ops.js';
import { eventFire, eventList } from './event.js';
import * as keyring from './keyring.js';
import * as query from './prepared-query.js';
import * as catalog from './catalog.js';
import * as internal from './internal.js';
import * as coordinate from './coordinate.js';
import { kvDelete, kvGet, kvPut } from './kv.js';
import { agentMetrics } from './metrics.js';
import * as session from './session.js';
import { snapshotRestore, snapshotSave } from './snapshot.js';
import * as status from './status.js';
import { txnPut } from './txn.js';
import {
  agentRead,
  agentWrite,
  checkedInHandler as inHandler,
  globalAccess,
  guarded,
  operatorWrite,
} from '../local-acl.js';

// Routes the agent answers itself are `guarded` here with the permission Consul's agent endpoints
// need (inHandler: the handler checks what the body or the agent's state names); every other route
// runs an RPC endpoint whose ACL spec (rpc/endpoints/acl-spec.ts) the serving server checks.
const keyringRead = globalAccess('keyring', 'read');
const keyringWrite = globalAccess('keyring', 'write');

export const routes: Route[] = [
  { path: '/v1/kv/*', methods: { GET: kvGet, PUT: kvPut, DELETE: kvDelete } },
  { path: '/v1/txn', methods: { PUT: txnPut } },

  { path: '/v1/session/create', methods: { PUT: session.sessionCreate } },
  { path: '/v1/session/destroy/*', methods: { PUT: session.sessionDestroy } },
  { path: '/v1/session/renew/*', methods: { PUT: session.sessionRenew } },
  { path: '/v1/session/info/*', methods: { GET: session.sessionInfo } },
  { path: '/v1/session/node/*', methods: { GET: session.sessionNode } },
  { path: '/v1/session/list', methods: { GET: session.sessionList } },

  { path: '/v1/catalog/register', methods: { PUT: catalog.catalogRegister } },
  { path: '/v1/catalog/deregister', methods: { PUT: catalog.catalogDeregister } },
  { path: '/v1/catalog/datacenters', methods: { GET: catalog.catalogDatacenters } },
  { path: '/v1/catalog/nodes', methods: { GET: catalog.catalogNodes } },
  { path: '/v1/catalog/services', methods: { GET: catalog.catalogServices } },
  { path: '/v1/catalog/service/:service', methods: { GET: catalog.catalogService } },
  { path: '/v1/catalog/node/:node', methods: { GET: catalog.catalogNode } },
  { path: '/v1/catalog/node-services/:node', methods: { GET: catalog.catalogNodeServices } },

  { path: '/v1/health/service/:service', methods: { GET: catalog.healthService } },
  { path: '/v1/health/node/:node', methods: { GET: catalog.healthNode } },
  { path: '/v1/health/checks/:service', methods: { GET: catalog.healthChecks } },
  { path: '/v1/health/state/:state', methods: { GET: catalog.healthState } },

  { path: '/v1/coordinate/datacenters', methods: { GET: coordinate.coordinateDatacenters } },
  { path: '/v1/coordinate/nodes', methods: { GET: coordinate.coordinateNodes } },
  { path: '/v1/coordinate/node/:node', methods: { GET: coordinate.coordinateNode } },
  { path: '/v1/coordinate/update', methods: { PUT: coordinate.coordinateUpdate } },

  { path: '/v1/status/leader', methods: { GET: status.statusLeader } },
  { path: '/v1/status/peers', methods: { GET: status.statusPeers } },
  { path: '/v1/operator/raft/configuration', methods: { GET: status.raftConfiguration } },
  { path: '/v1/operator/raft/peer', methods: { DELETE: status.raftRemovePeer } },
  { path: '/v1/snapshot', methods: { GET: snapshotSave, PUT: snapshotRestore } },
  { path: '/v1/operator/raft/transfer-leader', methods: { POST: autopilot.raftTransferLeader } },
  {
    path: '/v1/operator/autopilot/configuration',
    methods: { GET: autopilot.autopilotGetConfiguration, PUT: autopilot.autopilotSetConfiguration },
  },
  { path: '/v1/operator/autopilot/health', methods: { GET: autopilot.autopilotHealth } },
  { path: '/v1/operator/autopilot/state', methods: { GET: autopilot.autopilotState } },
  {
    path: '/v1/operator/keyring',
    methods: {
      GET: guarded(keyringRead, keyring.keyringList),
      POST: guarded(keyringWrite, keyring.keyringInstall),
      PUT: guarded(keyringWrite, keyring.keyringUse),
      DELETE: guarded(keyringWrite, keyring.keyringRemove),
    },
  },
  { path: '/v1/agent/self', methods: { GET: guarded(agentRead, agent.agentSelf) } },
  { path: '/v1/agent/members', methods: { GET: guarded(inHandler, agent.agentMembers) } },
  { path: '/v1/agent/metrics', methods: { GET: agentMetrics } },
  { path: '/v1/agent/join/:address', methods: { PUT: guarded(agentWrite, agent.agentJoin) } },
  { path: '/v1/agent/leave', methods: { PUT: guarded(agentWrite, agent.agentLeave) } },
  { path: '/v1/agent/force-leave/:node', methods: { PUT: guarded(operatorWrite, agent.agentForceLeave) } },
  { path: '/v1/agent/monitor', methods: { GET: guarded(agentRead, agentMonitor) } },
  { path: '/v1/agent/reload', methods: { PUT: guarded(agentWrite, agentReload) } },
  { path: '/v1/agent/maintenance', methods: { PUT: guarded(inHandler, local.agentNodeMaintenance) } },
  { path: '/v1/agent/services', methods: { GET: guarded(inHandler, local.agentServices) } },
  { path: '/v1/agent/service/register', methods: { PUT: guarded(inHandler, local.agentServiceRegister) } },
  {
    path: '/v1/agent/service/deregister/:id',
    methods: { PUT: guarded(inHandler, local.agentServiceDeregister) },
  },
  {
    path: '/v1/agent/service/maintenance/:id',
    methods: { PUT: guarded(inHandler, local.agentServiceMaintenance) },
  },
  { path: '/v1/agent/service/:id', methods: { GET: guarded(inHandler, local.agentService) } },
  {
    path: '/v1/agent/health/service/name/:name',
    methods: { GET: guarded(inHandler, local.agentHealthServiceByName) },
  },
  {
    path: '/v1/agent/health/service/id/:id',
    methods: { GET: guarded(inHandler, local.agentHealthServiceById) },
  },
  { path: '/v1/agent/checks', methods: { GET: guarded(inHandler, local.agentChecks) } },
  { path: '/v1/agent/check/register', methods: { PUT: guarded(inHandler, local.agentCheckRegister) } },
  {
    path: '/v1/agent/check/deregister/:id',
    methods: { PUT: guarded(inHandler, local.agentCheckDeregister) },
  },
  { path: '/v1/agent/check/pass/:id', methods: { PUT: guarded(inHandler, local.agentCheckPass) } },
  { path: '/v1/agent/check/warn/:id', methods: { PUT: guarded(inHandler, local.agentCheckWarn) } },
  { path: '/v1/agent/check/fail/:id', methods: { PUT: guarded(inHandler, local.agentCheckFail) } },
  { path: '/v1/agent/check/update/:id', methods: { PUT: guarded(inHandler, local.agentCheckUpdate) } },

  { path: '/v1/internal/gateway/directory', methods: { GET: internal.gatewayDirectory } },
  { path: '/v1/internal/ui/services', methods: { GET: internal.uiServices } },
  { path: '/v1/internal/ui/nodes', methods: { GET: internal.uiNodes } },
  { path: '/v1/internal/ui/node/:node', methods: { GET: internal.uiNodeInfo } },

  { path: '/v1/event/fire/:name', methods: { PUT: eventFire } },
  { path: '/v1/event/list', methods: { GET: eventList } },

  { path: '/v1/acl/bootstrap', methods: { PUT: acl.aclBootstrap } },
  { path: '/v1/acl/token', methods: { PUT: acl.tokenCreate } },
  { path: '/v1/acl/token/self', methods: { GET: acl.tokenSelf } },
  { path: '/v1/acl/token/:id/clone', methods: { PUT: acl.tokenClone } },
  {
    path: '/v1/acl/token/:id',
    methods: { GET: acl.tokenRead, PUT: acl.tokenUpdate, DELETE: acl.tokenDelete },
  },
  { path: '/v1/acl/tokens', methods: { GET: acl.tokenList } },
  { path: '/v1/acl/policy', methods: { PUT: acl.policyCreate } },
  { path: '/v1/acl/policy/name/:name', methods: { GET: acl.policyReadByName } },
  {
    path: '/v1/acl/policy/:id',
    methods: { GET: acl.policyRead, PUT: acl.policyUpdate, DELETE: acl.policyDelete },
  },
  { path: '/v1/acl/policies', methods: { GET: acl.policyList } },
  { path: '/v1/agent/token/:kind', methods: { PUT: acl.agentTokenSet } },

  { path: '/v1/query', methods: { GET: query.queryList, POST: query.queryCreate } },
  {
    path: '/v1/query/*',
    methods: { GET: query.querySpecific, PUT: query.querySpecific, DELETE: query.querySpecific },
  },
];
