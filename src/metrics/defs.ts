// Every metric an agent exports, one table per kind. Names are Consul's (its telemetry reference)
// without the "consul." prefix, which is telemetry.metrics_prefix; those Consul has no counterpart
// for are marked "(not in Consul)". Timers are in milliseconds, as go-metrics reports them.

export interface MetricDef {
  name: string;
  help: string;
  labels?: readonly string[];
}

/** Timers: Consul's Samples in JSON, summaries (quantiles 0.5, 0.9, 0.99) in Prometheus text. */
export const TIMERS = {
  raftCommitTime: {
    name: 'raft.commitTime',
    help: 'Time from proposing a Raft entry to its commit, on the leader (ms).',
  },
  raftFsmApply: { name: 'raft.fsm.apply', help: 'Time for the FSM to apply one committed command (ms).' },
  raftLastContact: {
    name: 'raft.leader.lastContact',
    help: 'Time since this follower last heard from the leader, sampled at each scrape (ms).',
  },
  rpcServerCall: {
    name: 'rpc.server.call',
    help: 'Time to serve one RPC endpoint call (ms).',
    labels: ['method', 'errortype'],
  },
  kvsApply: { name: 'kvs.apply', help: 'Time to complete a KV update (KVS.Apply) (ms).' },
  txnApply: { name: 'txn.apply', help: 'Time to apply a transaction (Txn.Apply) (ms).' },
  catalogRegister: { name: 'catalog.register', help: 'Time to complete a catalog register (ms).' },
  catalogDeregister: { name: 'catalog.deregister', help: 'Time to complete a catalog deregister (ms).' },
  http: {
    name: 'api.http',
    help: 'Time to serve an HTTP API request, by method and route (path placeholders as "_") (ms).',
    labels: ['method', 'path'],
  },
  dnsQuery: { name: 'dns.domain_query', help: 'Time to answer a DNS query (ms).', labels: ['node'] },
  probeNode: {
    name: 'memberlist.probeNode',
    help: 'Time of a successful gossip probe (ms), by pool.',
    labels: ['network'],
  },
  gcPause: { name: 'runtime.gc_pause_ns', help: 'Duration of each garbage collection pause (ns).' },
} satisfies Record<string, MetricDef>;

/** Counters this agent increments as things happen. */
export const COUNTERS = {
  raftApply: { name: 'raft.apply', help: 'Raft entries proposed by this server.' },
  raftStateLeader: { name: 'raft.state.leader', help: 'Times this server became the Raft leader.' },
  raftStateFollower: { name: 'raft.state.follower', help: 'Times this server became a Raft follower.' },
  rpcRequest: { name: 'rpc.request', help: 'RPC endpoint calls served by this server.' },
  rpcRequestError: { name: 'rpc.request_error', help: 'RPC endpoint calls that failed on this server.' },
  rpcQuery: { name: 'rpc.query', help: 'Blocking queries this server started serving.' },
  clientRpc: { name: 'client.rpc', help: 'RPC calls this client agent made to the servers.' },
  clientRpcFailed: { name: 'client.rpc.failed', help: 'RPC calls of this client agent that failed.' },
  httpErrors: {
    name: 'api.http.errors',
    help: '(not in Consul) HTTP API responses with a 4xx/5xx status, by method, route and code.',
    labels: ['method', 'path', 'code'],
  },
  dnsCacheHit: {
    name: 'dns.cache_hit',
    help: '(not in Consul) DNS queries answered from the agent DNS cache.',
  },
  dnsCacheMiss: { name: 'dns.cache_miss', help: '(not in Consul) DNS queries that needed a catalog read.' },
  serfJoin: { name: 'serf.member.join', help: 'LAN members that joined.' },
  serfUpdate: { name: 'serf.member.update', help: 'LAN member updates (tags, address).' },
  serfFailed: { name: 'serf.member.failed', help: 'LAN members marked failed.' },
  serfLeft: { name: 'serf.member.left', help: 'LAN members that left.' },
  gcRuns: { name: 'runtime.total_gc_runs', help: 'Garbage collections since the agent started.' },
  gcPauseTotal: { name: 'runtime.total_gc_pause_ns', help: 'Total garbage collection pause (ns).' },
} satisfies Record<string, MetricDef>;

const NET = ['network'] as const;

/** Counters read from a running total at scrape time (the gossip pools' own counters), by pool. */
export const PULLED_COUNTERS = {
  msgSent: { name: 'memberlist.msg.sent', help: 'Gossip packets sent.', labels: NET },
  msgReceived: { name: 'memberlist.msg.received', help: 'Gossip packets received.', labels: NET },
  bytesSent: {
    name: 'memberlist.bytes.sent',
    help: '(not in Consul) Gossip bytes sent (packets and streams).',
    labels: NET,
  },
  bytesReceived: {
    name: 'memberlist.bytes.received',
    help: '(not in Consul) Gossip bytes received.',
    labels: NET,
  },
  tcpConnect: {
    name: 'memberlist.tcp.connect',
    help: 'Gossip streams opened to other members.',
    labels: NET,
  },
  tcpAccept: {
    name: 'memberlist.tcp.accept',
    help: 'Gossip streams accepted from other members.',
    labels: NET,
  },
  probes: { name: 'memberlist.probes', help: '(not in Consul) Gossip probes sent.', labels: NET },
  probesFailed: {
    name: 'memberlist.probes.failed',
    help: '(not in Consul) Gossip probes with no ack.',
    labels: NET,
  },
  suspicions: {
    name: 'memberlist.suspicions',
    help: '(not in Consul) Members this agent suspected.',
    labels: NET,
  },
  dropped: {
    name: 'memberlist.msg.dropped',
    help: '(not in Consul) Gossip input dropped, by reason.',
    labels: ['network', 'reason'],
  },
} satisfies Record<string, MetricDef>;

/** Gauges read at scrape time. */
export const GAUGES = {
  members: { name: 'serf.lan.members', help: 'LAN members by status.', labels: ['status'] },
  healthScore: {
    name: 'memberlist.health.score',
    help: 'Gossip health (awareness) score by pool; 0 is healthy.',
    labels: NET,
  },
  queriesBlocking: { name: 'rpc.queries_blocking', help: 'Blocking queries this server is serving now.' },
  isLeader: { name: 'server.isLeader', help: '1 when this server is the Raft leader.' },
  appliedIndex: { name: 'raft.applied_index', help: 'Index of the last Raft entry applied to the FSM.' },
  lastIndex: { name: 'raft.last_index', help: 'Index of the last Raft entry in the log.' },
  fsmPending: { name: 'raft.fsm.pending', help: 'Committed Raft entries not applied to the FSM yet.' },
  raftPeers: { name: 'raft.peers', help: '(not in Consul) Voters in the Raft configuration.' },
  membersServers: { name: 'members.servers', help: 'Alive servers in the LAN pool.' },
  membersClients: { name: 'members.clients', help: 'Alive client agents in the LAN pool.' },
  stateNodes: { name: 'state.nodes', help: 'Nodes in the catalog.' },
  stateServices: { name: 'state.services', help: 'Distinct service names in the catalog.' },
  stateKvEntries: { name: 'state.kv_entries', help: 'Keys in the KV store.' },
  stateSessions: { name: 'state.sessions', help: '(not in Consul) Sessions in the state store.' },
  allocBytes: { name: 'runtime.alloc_bytes', help: 'V8 heap in use (bytes).' },
  heapTotalBytes: { name: 'runtime.heap_total_bytes', help: '(not in Consul) V8 heap reserved (bytes).' },
  sysBytes: { name: 'runtime.sys_bytes', help: 'Resident set size of the process (bytes).' },
  externalBytes: {
    name: 'runtime.external_bytes',
    help: '(not in Consul) Memory of buffers outside the V8 heap (bytes).',
  },
  loopDelay: {
    name: 'runtime.event_loop_delay_ms',
    help: '(not in Consul) Event loop delay over the last 10 s (ms), by statistic (mean, p99, max).',
    labels: ['stat'],
  },
  loopUtilization: {
    name: 'runtime.event_loop_utilization',
    help: '(not in Consul) Share of the last 10 s the event loop was busy (0..1).',
  },
} satisfies Record<string, MetricDef>;

/** Endpoint methods that also feed a timer of their own (Consul times these by name). */
export const RPC_TIMERS: Readonly<Record<string, keyof typeof TIMERS>> = {
  'KVS.Apply': 'kvsApply',
  'Txn.Apply': 'txnApply',
  'Catalog.Register': 'catalogRegister',
  'Catalog.Deregister': 'catalogDeregister',
};

/** A metric's full name: "<prefix>.<name>". */
export function fullName(prefix: string, def: MetricDef): string {
  return `${prefix}.${def.name}`;
}

/** The Prometheus name of a dotted metric name: anything not allowed becomes "_" (Consul's sink). */
export function promName(dotted: string): string {
  return dotted.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/** A route pattern as a path label: "/v1/kv/*" -> "v1_kv_", "/v1/agent/service/:id" -> "v1_agent_service_". */
export function routeLabel(pattern: string): string {
  return pattern
    .replace(/^\//, '')
    .split('/')
    .map((p) => (p === '*' || p.startsWith(':') ? '' : p))
    .join('_');
}
