// The ACL matrix (issue 9): every route of the HTTP table and every transaction verb, called with
// no token, a read-everything token, a token that may write only things named "other...", and the
// management token, against default_policy deny. Each row says what each caller gets: allowed (any
// answer but a 403), denied (Consul's 403 naming the permission), or filtered (an answer without
// what the token may not see, marked X-Consul-Results-Filtered-By-ACLs). The table is checked
// against the route table and the verb list, so a route or verb added later without a row fails.
// Functional behaviour of each route is tested elsewhere; this file is about who may call what.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAclDevAgent, type DevAgent } from '../support/dev-agent.js';
import { routes } from '../../src/http/routes/index.js';
import { KV_VERBS } from '../../src/state/txn.js';

type Caller = 'none' | 'read' | 'other' | 'root';
/** allow: not 403; deny: 403 Permission denied; filter: allowed, with the filtered header. */
type Outcome = 'allow' | 'deny' | 'filter';

interface Row {
  /** The route-table path this row exercises (the coverage check matches on it). */
  route: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The request path; a function gets the fixture's ids. */
  path: string | ((f: Fixture) => string);
  body?: unknown;
  /** Outcomes for none, read, other; the management token is always allowed and never filtered. */
  expect: [Outcome, Outcome, Outcome];
}

interface Fixture {
  session: string;
  doomedSession: string;
  query: string;
  policy: string;
  tokenId: string;
}

// Shorthands for the usual patterns.
const READ: Row['expect'] = ['deny', 'allow', 'deny']; // read on something not named other
const LIST: Row['expect'] = ['filter', 'allow', 'filter']; // a list filtered per item
const WRITE: Row['expect'] = ['deny', 'deny', 'deny']; // write on something not named other
const OTHER: Row['expect'] = ['deny', 'deny', 'allow']; // write on something named other
const OPEN: Row['expect'] = ['allow', 'allow', 'allow']; // open in Consul too
const GLOBAL_READ: Row['expect'] = ['deny', 'allow', 'deny']; // operator/keyring/acl read

const svc = (id: string, name = id): unknown => ({ ID: id, Name: name, Port: 80 });
const reg = (node: string, service: string): unknown => ({
  Node: node,
  Address: '10.0.0.9',
  Service: { ID: service, Service: service, Port: 81 },
  Checks: [
    { CheckID: `${node}-alive`, Name: 'node alive', Status: 'passing' },
    { CheckID: `${service}-up`, Name: 'service up', Status: 'passing', ServiceID: service },
  ],
});
const ttl = (id: string, serviceId = ''): unknown => ({ ID: id, Name: id, TTL: '1h', ServiceID: serviceId });
const query = (name: string, service: string): unknown => ({ Name: name, Service: { Service: service } });

/** What the read token may do: read everything there is. */
const READ_ALL = `key_prefix "" { policy = "read" }
service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
agent_prefix "" { policy = "read" }
session_prefix "" { policy = "read" }
event_prefix "" { policy = "read" }
query_prefix "" { policy = "read" }
operator = "read"
keyring = "read"
acl = "read"`;

/** What the other token may do: write what is named "other...", nothing else. */
const OTHER_WRITE = [
  'key_prefix "other/"',
  'service_prefix "other"',
  'node_prefix "other"',
  'agent_prefix "other"',
]
  .concat(['session_prefix "other"', 'event_prefix "other"', 'query_prefix "other"'])
  .map((r) => `${r} { policy = "write" }`)
  .join('\n');

const ROWS: Row[] = [
  // ---------------------------------------------------------------- KV and transactions
  { route: '/v1/kv/*', method: 'GET', path: '/v1/kv/app/a', expect: READ },
  { route: '/v1/kv/*', method: 'GET', path: '/v1/kv/?recurse', expect: LIST },
  { route: '/v1/kv/*', method: 'GET', path: '/v1/kv/?keys', expect: LIST },
  { route: '/v1/kv/*', method: 'PUT', path: '/v1/kv/app/new', body: 'v', expect: WRITE },
  { route: '/v1/kv/*', method: 'PUT', path: '/v1/kv/other/new', body: 'v', expect: OTHER },
  { route: '/v1/kv/*', method: 'DELETE', path: '/v1/kv/app/gone', expect: WRITE },
  { route: '/v1/kv/*', method: 'DELETE', path: '/v1/kv/other/gone', expect: OTHER },
  { route: '/v1/kv/*', method: 'DELETE', path: '/v1/kv/app/sub/?recurse', expect: WRITE },

  // ---------------------------------------------------------------- sessions
  { route: '/v1/session/create', method: 'PUT', path: '/v1/session/create', body: {}, expect: WRITE },
  {
    route: '/v1/session/destroy/*',
    method: 'PUT',
    path: (f) => `/v1/session/destroy/${f.doomedSession}`,
    expect: WRITE,
  },
  {
    route: '/v1/session/renew/*',
    method: 'PUT',
    path: (f) => `/v1/session/renew/${f.session}`,
    expect: WRITE,
  },
  { route: '/v1/session/info/*', method: 'GET', path: (f) => `/v1/session/info/${f.session}`, expect: LIST },
  { route: '/v1/session/node/*', method: 'GET', path: '/v1/session/node/test-node', expect: LIST },
  { route: '/v1/session/list', method: 'GET', path: '/v1/session/list', expect: LIST },

  // ---------------------------------------------------------------- catalog and health
  {
    route: '/v1/catalog/register',
    method: 'PUT',
    path: '/v1/catalog/register',
    body: reg('n2', 'api'),
    expect: WRITE,
  },
  {
    route: '/v1/catalog/register',
    method: 'PUT',
    path: '/v1/catalog/register',
    body: reg('other-node', 'other-svc'),
    expect: OTHER,
  },
  {
    route: '/v1/catalog/deregister',
    method: 'PUT',
    path: '/v1/catalog/deregister',
    body: { Node: 'n-gone' },
    expect: WRITE,
  },
  { route: '/v1/catalog/datacenters', method: 'GET', path: '/v1/catalog/datacenters', expect: OPEN },
  { route: '/v1/catalog/nodes', method: 'GET', path: '/v1/catalog/nodes', expect: LIST },
  { route: '/v1/catalog/services', method: 'GET', path: '/v1/catalog/services', expect: LIST },
  { route: '/v1/catalog/service/:service', method: 'GET', path: '/v1/catalog/service/web', expect: LIST },
  { route: '/v1/catalog/node/:node', method: 'GET', path: '/v1/catalog/node/n1', expect: LIST },
  {
    route: '/v1/catalog/node-services/:node',
    method: 'GET',
    path: '/v1/catalog/node-services/n1',
    expect: LIST,
  },
  { route: '/v1/health/service/:service', method: 'GET', path: '/v1/health/service/web', expect: LIST },
  { route: '/v1/health/node/:node', method: 'GET', path: '/v1/health/node/n1', expect: LIST },
  { route: '/v1/health/checks/:service', method: 'GET', path: '/v1/health/checks/web', expect: LIST },
  { route: '/v1/health/state/:state', method: 'GET', path: '/v1/health/state/any', expect: LIST },

  // ---------------------------------------------------------------- snapshots (management only)
  { route: '/v1/snapshot', method: 'GET', path: '/v1/snapshot', expect: WRITE },
  // Not an archive: refused (400) once the token may restore, before anything changes.
  { route: '/v1/snapshot', method: 'PUT', path: '/v1/snapshot', body: 'not an archive', expect: WRITE },

  // ---------------------------------------------------------------- coordinates, status, operator
  { route: '/v1/coordinate/datacenters', method: 'GET', path: '/v1/coordinate/datacenters', expect: OPEN },
  { route: '/v1/coordinate/nodes', method: 'GET', path: '/v1/coordinate/nodes', expect: LIST },
  { route: '/v1/coordinate/node/:node', method: 'GET', path: '/v1/coordinate/node/test-node', expect: READ },
  {
    route: '/v1/coordinate/update',
    method: 'PUT',
    path: '/v1/coordinate/update',
    body: { Node: 'n1', Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 } },
    expect: WRITE,
  },
  { route: '/v1/status/leader', method: 'GET', path: '/v1/status/leader', expect: OPEN },
  { route: '/v1/status/peers', method: 'GET', path: '/v1/status/peers', expect: OPEN },
  {
    route: '/v1/operator/raft/configuration',
    method: 'GET',
    path: '/v1/operator/raft/configuration',
    expect: GLOBAL_READ,
  },
  {
    route: '/v1/operator/raft/peer',
    method: 'DELETE',
    path: '/v1/operator/raft/peer?id=nope',
    expect: WRITE,
  },
  // With one server there is nobody to hand leadership to: an error past the ACL check.
  {
    route: '/v1/operator/raft/transfer-leader',
    method: 'POST',
    path: '/v1/operator/raft/transfer-leader',
    expect: WRITE,
  },
  {
    route: '/v1/operator/autopilot/configuration',
    method: 'GET',
    path: '/v1/operator/autopilot/configuration',
    expect: GLOBAL_READ,
  },
  {
    route: '/v1/operator/autopilot/configuration',
    method: 'PUT',
    path: '/v1/operator/autopilot/configuration',
    body: { CleanupDeadServers: true },
    expect: WRITE,
  },
  {
    route: '/v1/operator/autopilot/health',
    method: 'GET',
    path: '/v1/operator/autopilot/health',
    expect: GLOBAL_READ,
  },
  {
    route: '/v1/operator/autopilot/state',
    method: 'GET',
    path: '/v1/operator/autopilot/state',
    expect: GLOBAL_READ,
  },
  { route: '/v1/operator/keyring', method: 'GET', path: '/v1/operator/keyring', expect: GLOBAL_READ },
  // Installing, using and removing a key all need keyring:write. The management token's requests
  // act on the agent's real keyring (not encrypted here: they fail, but past the ACL check).
  {
    route: '/v1/operator/keyring',
    method: 'POST',
    path: '/v1/operator/keyring',
    body: { Key: 'x' },
    expect: WRITE,
  },
  {
    route: '/v1/operator/keyring',
    method: 'PUT',
    path: '/v1/operator/keyring',
    body: { Key: 'x' },
    expect: WRITE,
  },
  {
    route: '/v1/operator/keyring',
    method: 'DELETE',
    path: '/v1/operator/keyring',
    body: { Key: 'x' },
    expect: WRITE,
  },

  // ---------------------------------------------------------------- the agent itself
  { route: '/v1/agent/self', method: 'GET', path: '/v1/agent/self', expect: READ },
  // A dev agent has no log stream to follow (503) nor config files to read again (400): past the
  // ACL check either way.
  { route: '/v1/agent/metrics', method: 'GET', path: '/v1/agent/metrics', expect: READ },
  { route: '/v1/agent/monitor', method: 'GET', path: '/v1/agent/monitor', expect: READ },
  { route: '/v1/agent/reload', method: 'PUT', path: '/v1/agent/reload', expect: WRITE },
  { route: '/v1/agent/members', method: 'GET', path: '/v1/agent/members', expect: LIST },
  { route: '/v1/agent/join/:address', method: 'PUT', path: '/v1/agent/join/127.0.0.1:1', expect: WRITE },
  // /v1/agent/leave is the last test of the file (the management token's call stops the agent).
  {
    route: '/v1/agent/force-leave/:node',
    method: 'PUT',
    path: '/v1/agent/force-leave/nobody',
    expect: WRITE,
  },
  {
    route: '/v1/agent/maintenance',
    method: 'PUT',
    path: '/v1/agent/maintenance?enable=false',
    expect: WRITE,
  },
  { route: '/v1/agent/services', method: 'GET', path: '/v1/agent/services', expect: LIST },
  {
    route: '/v1/agent/service/register',
    method: 'PUT',
    path: '/v1/agent/service/register',
    body: svc('api'),
    expect: WRITE,
  },
  {
    route: '/v1/agent/service/register',
    method: 'PUT',
    path: '/v1/agent/service/register',
    body: svc('other-api'),
    expect: OTHER,
  },
  // A write token for "other" may not take over the ID of a service named otherwise.
  {
    route: '/v1/agent/service/register',
    method: 'PUT',
    path: '/v1/agent/service/register',
    body: svc('taken', 'other-taken'),
    expect: WRITE,
  },
  {
    route: '/v1/agent/service/deregister/:id',
    method: 'PUT',
    path: '/v1/agent/service/deregister/doomed',
    expect: WRITE,
  },
  {
    route: '/v1/agent/service/deregister/:id',
    method: 'PUT',
    path: '/v1/agent/service/deregister/other-doomed',
    expect: OTHER,
  },
  {
    route: '/v1/agent/service/maintenance/:id',
    method: 'PUT',
    path: '/v1/agent/service/maintenance/web?enable=false',
    expect: WRITE,
  },
  { route: '/v1/agent/service/:id', method: 'GET', path: '/v1/agent/service/web', expect: READ },
  {
    route: '/v1/agent/health/service/name/:name',
    method: 'GET',
    path: '/v1/agent/health/service/name/web',
    expect: READ,
  },
  {
    route: '/v1/agent/health/service/id/:id',
    method: 'GET',
    path: '/v1/agent/health/service/id/web',
    expect: READ,
  },
  { route: '/v1/agent/checks', method: 'GET', path: '/v1/agent/checks', expect: LIST },
  {
    route: '/v1/agent/check/register',
    method: 'PUT',
    path: '/v1/agent/check/register',
    body: ttl('web-ttl-2', 'web'),
    expect: WRITE,
  },
  {
    route: '/v1/agent/check/register',
    method: 'PUT',
    path: '/v1/agent/check/register',
    body: ttl('node-ttl-2'),
    expect: WRITE,
  },
  {
    route: '/v1/agent/check/register',
    method: 'PUT',
    path: '/v1/agent/check/register',
    body: ttl('other-ttl', 'other-web'),
    expect: OTHER,
  },
  {
    route: '/v1/agent/check/deregister/:id',
    method: 'PUT',
    path: '/v1/agent/check/deregister/doomed-ttl',
    expect: WRITE,
  },
  { route: '/v1/agent/check/pass/:id', method: 'PUT', path: '/v1/agent/check/pass/web-ttl', expect: WRITE },
  { route: '/v1/agent/check/warn/:id', method: 'PUT', path: '/v1/agent/check/warn/node-ttl', expect: WRITE },
  {
    route: '/v1/agent/check/fail/:id',
    method: 'PUT',
    path: '/v1/agent/check/fail/other-web-ttl',
    expect: OTHER,
  },
  {
    route: '/v1/agent/check/update/:id',
    method: 'PUT',
    path: '/v1/agent/check/update/web-ttl',
    body: { Status: 'passing', Output: 'ok' },
    expect: WRITE,
  },
  {
    route: '/v1/agent/token/:kind',
    method: 'PUT',
    path: '/v1/agent/token/agent',
    body: { Token: '' },
    expect: WRITE,
  },

  // ---------------------------------------------------------------- internal (UI, gateway)
  {
    route: '/v1/internal/gateway/directory',
    method: 'GET',
    path: '/v1/internal/gateway/directory',
    expect: OPEN,
  },
  { route: '/v1/internal/ui/services', method: 'GET', path: '/v1/internal/ui/services', expect: LIST },
  { route: '/v1/internal/ui/nodes', method: 'GET', path: '/v1/internal/ui/nodes', expect: LIST },
  { route: '/v1/internal/ui/node/:node', method: 'GET', path: '/v1/internal/ui/node/n1', expect: LIST },

  // ---------------------------------------------------------------- events
  { route: '/v1/event/fire/:name', method: 'PUT', path: '/v1/event/fire/deploy', expect: WRITE },
  { route: '/v1/event/fire/:name', method: 'PUT', path: '/v1/event/fire/other-deploy', expect: OTHER },
  { route: '/v1/event/list', method: 'GET', path: '/v1/event/list', expect: LIST },

  // ---------------------------------------------------------------- ACLs
  // Bootstrap is done once, before the rows: afterwards everyone gets the same 403 (not an ACL
  // check: checked apart below).
  { route: '/v1/acl/token', method: 'PUT', path: '/v1/acl/token', body: {}, expect: WRITE },
  {
    route: '/v1/acl/token/self',
    method: 'GET',
    path: '/v1/acl/token/self',
    expect: ['deny', 'allow', 'allow'],
  },
  {
    route: '/v1/acl/token/:id/clone',
    method: 'PUT',
    path: (f) => `/v1/acl/token/${f.tokenId}/clone`,
    expect: WRITE,
  },
  {
    route: '/v1/acl/token/:id',
    method: 'GET',
    path: (f) => `/v1/acl/token/${f.tokenId}`,
    expect: GLOBAL_READ,
  },
  {
    route: '/v1/acl/token/:id',
    method: 'PUT',
    path: (f) => `/v1/acl/token/${f.tokenId}`,
    body: {},
    expect: WRITE,
  },
  {
    route: '/v1/acl/token/:id',
    method: 'DELETE',
    path: '/v1/acl/token/00000000-0000-0000-0000-00000000abcd',
    expect: WRITE,
  },
  { route: '/v1/acl/tokens', method: 'GET', path: '/v1/acl/tokens', expect: GLOBAL_READ },
  {
    route: '/v1/acl/policy',
    method: 'PUT',
    path: '/v1/acl/policy',
    body: { Name: 'p-new', Rules: '' },
    expect: WRITE,
  },
  {
    route: '/v1/acl/policy/name/:name',
    method: 'GET',
    path: '/v1/acl/policy/name/spare',
    expect: GLOBAL_READ,
  },
  {
    route: '/v1/acl/policy/:id',
    method: 'GET',
    path: (f) => `/v1/acl/policy/${f.policy}`,
    expect: GLOBAL_READ,
  },
  {
    route: '/v1/acl/policy/:id',
    method: 'PUT',
    path: (f) => `/v1/acl/policy/${f.policy}`,
    body: { Name: 'spare', Rules: '' },
    expect: WRITE,
  },
  {
    route: '/v1/acl/policy/:id',
    method: 'DELETE',
    path: '/v1/acl/policy/00000000-0000-0000-0000-00000000abcd',
    expect: WRITE,
  },
  { route: '/v1/acl/policies', method: 'GET', path: '/v1/acl/policies', expect: GLOBAL_READ },

  // ---------------------------------------------------------------- prepared queries
  { route: '/v1/query', method: 'GET', path: '/v1/query', expect: LIST },
  { route: '/v1/query', method: 'POST', path: '/v1/query', body: query('q-new', 'web'), expect: WRITE },
  { route: '/v1/query', method: 'POST', path: '/v1/query', body: query('other-q', 'web'), expect: OTHER },
  { route: '/v1/query/*', method: 'GET', path: (f) => `/v1/query/${f.query}`, expect: READ },
  { route: '/v1/query/*', method: 'GET', path: (f) => `/v1/query/${f.query}/explain`, expect: READ },
  { route: '/v1/query/*', method: 'GET', path: '/v1/query/web-q/execute', expect: LIST },
  {
    route: '/v1/query/*',
    method: 'PUT',
    path: (f) => `/v1/query/${f.query}`,
    body: query('web-q', 'web'),
    expect: WRITE,
  },
  {
    route: '/v1/query/*',
    method: 'DELETE',
    path: (f) => `/v1/query/${f.query}`,
    expect: WRITE,
  },
];

/** One row per transaction verb, on keys under app/ (none of the callers but root may write there). */
const TXN_ROWS: { verb: string; op: Record<string, unknown>; expect: [Outcome, Outcome, Outcome] }[] = [
  { verb: 'set', op: { Key: 'app/t', Value: 'dg==' }, expect: WRITE },
  { verb: 'cas', op: { Key: 'app/t', Value: 'dg==', Index: 0 }, expect: WRITE },
  { verb: 'lock', op: { Key: 'app/t', Value: 'dg==', Session: 'SESSION' }, expect: WRITE },
  { verb: 'unlock', op: { Key: 'app/t', Value: 'dg==', Session: 'SESSION' }, expect: WRITE },
  { verb: 'get', op: { Key: 'app/a' }, expect: LIST },
  { verb: 'get-or-empty', op: { Key: 'app/a' }, expect: LIST },
  { verb: 'get-tree', op: { Key: 'app/' }, expect: LIST },
  { verb: 'check-index', op: { Key: 'app/a', Index: 1 }, expect: READ },
  { verb: 'check-session', op: { Key: 'app/a', Session: 'SESSION' }, expect: READ },
  { verb: 'check-not-exists', op: { Key: 'app/zz' }, expect: WRITE },
  { verb: 'delete', op: { Key: 'app/zz' }, expect: WRITE },
  { verb: 'delete-tree', op: { Key: 'app/zz/' }, expect: WRITE },
  { verb: 'delete-cas', op: { Key: 'app/zz', Index: 1 }, expect: WRITE },
];

const FILTERED = 'X-Consul-Results-Filtered-By-ACLs';
const CALLERS: Caller[] = ['none', 'read', 'other', 'root'];

describe('the ACL matrix covers', () => {
  it('every method of every route in the HTTP route table', () => {
    const have = new Set(ROWS.map((r) => `${r.method} ${r.route}`));
    // Leave is in the table's last test (it stops the agent); bootstrap and transactions apart.
    have.add('PUT /v1/agent/leave').add('PUT /v1/acl/bootstrap').add('PUT /v1/txn');
    const missing = routes
      .flatMap((r) => Object.keys(r.methods).map((m) => `${m} ${r.path}`))
      .filter((k) => !have.has(k));
    expect(missing).toEqual([]);
  });

  it('every transaction verb', () => {
    expect(TXN_ROWS.map((r) => r.verb).sort()).toEqual([...KV_VERBS].sort());
  });
});

describe('ACLs on, default deny: each caller on each route', () => {
  let dev: DevAgent;
  const tokens: Record<Caller, string | undefined> = { none: undefined, read: '', other: '', root: '' };
  const f: Fixture = { session: '', doomedSession: '', query: '', policy: '', tokenId: '' };

  async function call(method: string, path: string, who: Caller, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    const t = tokens[who];
    if (t !== undefined) headers['X-Consul-Token'] = t;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    return dev.app.request(path, init);
  }

  async function ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await call(method, path, 'root', body);
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  async function tokenFor(name: string, rules: string): Promise<{ secret: string; id: string }> {
    const p = await ok('PUT', '/v1/acl/policy', { Name: name, Rules: rules });
    const t = await ok('PUT', '/v1/acl/token', { Policies: [{ ID: p['ID'] }] });
    return { secret: t['SecretID'] as string, id: t['AccessorID'] as string };
  }

  beforeAll(async () => {
    dev = await startAclDevAgent();
    const b = await dev.app.request('/v1/acl/bootstrap', { method: 'PUT' });
    tokens.root = ((await b.json()) as Record<string, string>)['SecretID'];
    tokens.read = (await tokenFor('read-all', READ_ALL)).secret;
    tokens.other = (await tokenFor('other-write', OTHER_WRITE)).secret;
    const spare = await tokenFor('spare', '');
    f.tokenId = spare.id;
    f.policy = ((await ok('GET', '/v1/acl/policy/name/spare')) as Record<string, string>)['ID'] as string;

    for (const k of ['app/a', 'app/b', 'app/sub/x', 'app/gone', 'other/x', 'other/gone'])
      await ok('PUT', `/v1/kv/${k}`, k);
    await ok('PUT', '/v1/catalog/register', reg('n1', 'web'));
    await ok('PUT', '/v1/catalog/register', reg('other-n', 'other-web'));
    for (const [id, name] of [
      ['web', 'web'],
      ['taken', 'taken'],
      ['doomed', 'doomed'],
      ['other-doomed', 'other-doomed'],
      ['other-web', 'other-web'],
    ] as const)
      await ok('PUT', '/v1/agent/service/register', svc(id, name));
    for (const [id, service] of [
      ['web-ttl', 'web'],
      ['node-ttl', ''],
      ['doomed-ttl', ''],
      ['other-web-ttl', 'other-web'],
    ] as const)
      await ok('PUT', '/v1/agent/check/register', ttl(id, service));
    f.session = (await ok('PUT', '/v1/session/create', {}))['ID'] as string;
    f.doomedSession = (await ok('PUT', '/v1/session/create', {}))['ID'] as string;
    f.query = (await ok('POST', '/v1/query', query('web-q', 'web')))['ID'] as string;
    await ok('PUT', '/v1/event/fire/deploy');
    await ok('PUT', '/v1/event/fire/other-deploy');
    await ok('PUT', '/v1/coordinate/update', {
      Node: 'n1',
      Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 },
    });
    // Coordinates reach the catalog in batches: wait for n1's.
    const until = Date.now() + 10_000;
    while (((await (await call('GET', '/v1/coordinate/nodes', 'root')).json()) as unknown[]).length === 0) {
      if (Date.now() > until) throw new Error("n1's coordinate never reached the catalog");
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(() => dev.stop());

  /** Checks one answer against the outcome the row expects for this caller. */
  /**
   * Checks one answer against the outcome the row expects for this caller. A transaction that is
   * denied fails whole with 409 and the permission error; one that is allowed may still fail for
   * its own reasons (a stale index), with a 409 that names no permission.
   */
  async function verdict(r: Response, outcome: Outcome, what: string, txn = false): Promise<void> {
    const text = await r.text();
    const seen = `${what} -> ${r.status} ${text.slice(0, 160)} (filtered: ${r.headers.get(FILTERED)})`;
    if (outcome === 'deny') {
      expect(r.status, seen).toBe(txn ? 409 : 403);
      expect(text, seen).toMatch(/Permission denied|ACL not found/);
    } else {
      expect(r.status, seen).not.toBe(403);
      expect(text, seen).not.toMatch(/Permission denied|ACL not found/);
      expect(r.headers.get(FILTERED), seen).toBe(outcome === 'filter' ? 'true' : null);
    }
  }

  for (const row of ROWS) {
    const label = `${row.method} ${typeof row.path === 'string' ? row.path : row.route}`;
    it(label, async () => {
      const path = typeof row.path === 'string' ? row.path : row.path(f);
      for (const who of CALLERS) {
        const outcome = who === 'root' ? 'allow' : row.expect[CALLERS.indexOf(who)];
        await verdict(await call(row.method, path, who, row.body), outcome as Outcome, `${who} ${label}`);
      }
    });
  }

  for (const row of TXN_ROWS) {
    it(`PUT /v1/txn ${row.verb}`, async () => {
      const op = Object.fromEntries(
        Object.entries({ Verb: row.verb, ...row.op }).map(([k, v]) => [k, v === 'SESSION' ? f.session : v]),
      );
      for (const who of CALLERS) {
        const outcome = who === 'root' ? 'allow' : row.expect[CALLERS.indexOf(who)];
        // A denied operation fails the whole transaction with 409 and its error, as in Consul.
        await verdict(
          await call('PUT', '/v1/txn', who, [{ KV: op }]),
          outcome as Outcome,
          `${who} txn ${row.verb}`,
          true,
        );
      }
    });
  }

  it('PUT /v1/acl/bootstrap is refused to everyone once done', async () => {
    for (const who of CALLERS) {
      const r = await call('PUT', '/v1/acl/bootstrap', who);
      expect(r.status).toBe(403);
      expect(await r.text()).toMatch(/ACL bootstrap no longer allowed/);
    }
  });

  // Last: the management token's leave stops the agent.
  it('PUT /v1/agent/leave needs agent:write', async () => {
    for (const who of ['none', 'read', 'other'] as const)
      await verdict(await call('PUT', '/v1/agent/leave', who), 'deny', `${who} leave`);
    await verdict(await call('PUT', '/v1/agent/leave', 'root'), 'allow', 'root leave');
  });
});
