// Sample data for looking at the web UI: nodes, services with passing, warning and critical
// checks, and a few KV keys, written through the HTTP API of the agent at `http` (host:port).
// Used by scripts/ui-screenshots.mjs; nodes are catalog-registered, so no agent runs them.

const NODES = [
  { Node: 'web-1', Address: '10.0.1.11', Meta: { rack: 'r1', zone: 'eu-west-1a' } },
  { Node: 'web-2', Address: '10.0.1.12', Meta: { rack: 'r2', zone: 'eu-west-1b' } },
  { Node: 'db-1', Address: '10.0.2.21', Meta: { rack: 'r1', zone: 'eu-west-1a' } },
  { Node: 'cache-1', Address: '10.0.3.31', Meta: { zone: 'eu-west-1c' } },
];

/** [node, service, id, port, tags, meta, check status, check output] */
const SERVICES = [
  [
    'web-1',
    'web',
    'web-1',
    8080,
    ['http', 'v2', 'primary'],
    { version: '2.4.1' },
    'passing',
    'HTTP GET http://10.0.1.11:8080/health: 200 OK Output: ok',
  ],
  [
    'web-2',
    'web',
    'web-2',
    8080,
    ['http', 'v2'],
    { version: '2.4.1' },
    'critical',
    'HTTP GET http://10.0.1.12:8080/health: 503 Service Unavailable Output: database connection refused',
  ],
  [
    'web-1',
    'api',
    'api-1',
    9090,
    ['grpc', 'v1'],
    { version: '1.9.0', team: 'platform' },
    'passing',
    'TCP connect 10.0.1.11:9090: Success',
  ],
  [
    'web-2',
    'api',
    'api-2',
    9090,
    ['grpc', 'v1'],
    { version: '1.9.0', team: 'platform' },
    'passing',
    'TCP connect 10.0.1.12:9090: Success',
  ],
  [
    'db-1',
    'postgres',
    'postgres-1',
    5432,
    ['primary', 'pg15'],
    { role: 'primary' },
    'passing',
    'accepting connections',
  ],
  ['db-1', 'pgbouncer', 'pgbouncer-1', 6432, ['pool'], {}, 'warning', 'pool usage 87% (warn at 80%)'],
  ['cache-1', 'redis', 'redis-1', 6379, ['cache', 'v7'], { maxmemory: '4gb' }, 'passing', 'PONG'],
  ['cache-1', 'memcached', 'memcached-1', 11211, ['cache'], {}, 'passing', 'STAT uptime 86400'],
  [
    'web-1',
    'billing',
    'billing-1',
    7070,
    ['http', 'beta'],
    { owner: 'payments' },
    'passing',
    'HTTP GET /ready: 200 OK',
  ],
];

const KV = {
  'config/web/timeout': '30s',
  'config/web/features': JSON.stringify(
    { search: true, checkout: { enabled: true, provider: 'stripe' }, banner: 'Winter sale' },
    null,
    2,
  ),
  'config/web/max-connections': '512',
  'config/api/rate-limit': '1000',
  'config/db/pool-size': '20',
  'release/current': 'v2.4.1',
  maintenance: 'false',
};

async function put(http, path, body) {
  const r = await fetch(`http://${http}${path}`, {
    method: 'PUT',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`PUT ${path}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

export async function loadDemoData(http, datacenter) {
  for (const n of NODES) {
    await put(http, '/v1/catalog/register', {
      Datacenter: datacenter,
      ...n,
      Check: {
        CheckID: 'serfHealth',
        Name: 'Serf Health Status',
        Status: 'passing',
        Output: 'Agent alive and reachable',
      },
    });
  }
  for (const [node, name, id, port, tags, meta, status, output] of SERVICES) {
    const n = NODES.find((x) => x.Node === node);
    await put(http, '/v1/catalog/register', {
      Datacenter: datacenter,
      Node: node,
      Address: n.Address,
      Service: { ID: id, Service: name, Port: port, Tags: tags, Meta: meta },
      Check: {
        CheckID: `service:${id}`,
        Name: `${name} health`,
        ServiceID: id,
        Status: status,
        Output: output,
      },
    });
  }
  for (const [k, v] of Object.entries(KV)) await put(http, `/v1/kv/${k}`, v);
}
