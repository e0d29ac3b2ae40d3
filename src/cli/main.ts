// The consulate command: dispatches subcommands (Consul's command/ tree).

import { errorExit, processIo, UsageError, type Io } from './common.js';

const USAGE = `Usage: consulate <command> [args]

Commands:
    acl         ACL bootstrap, tokens and policies (acl bootstrap | token ... | policy ...)
    agent       Runs a Consulate agent (Consul's flags: -server, -bootstrap-expect, -retry-join, -data-dir ...;
                -docker-sync [-docker-host unix:///var/run/docker.sock] registers containers' published ports)
    catalog     Lists datacenters, nodes and services (catalog datacenters | nodes | services)
    event       Fires a user event (-name, -node, -service, -tag, payload)
    force-leave Forces a failed member to leave the pool
    gateway     Runs the edge gateway of a datacenter (-server <agent http addr>, -http-port 8080)
    info        Shows the local agent's debugging information (its Stats)
    join        Tells the local agent to join a gossip pool through an address
    keygen      Generates a new gossip encryption key
    keyring     Lists, installs, uses and removes gossip keys on every member
    kv          Get, put, delete, export and import keys (kv get | put | delete | export | import)
    leave       Makes the local agent leave the pool gracefully and shut down
    lock        Runs a command while holding a lock (-n=1, -name, -timeout, -shell)
    maint       Puts the node or a service in maintenance mode, or lists what is (-enable, -disable, -reason, -service)
    members     Lists the members of the gossip pool
    monitor     Streams the local agent's log (-log-level info, -log-json)
    operator    Raft and autopilot operations (operator raft list-peers | remove-peer | transfer-leader;
                operator autopilot get-config | set-config | state)
    reload      Makes the local agent reload its config files (services, checks, watches, log level, tokens)
    rtt         Estimates the network round trip time between two nodes (-wan for servers of any DC)
    services    Registers and deregisters services with the local agent (services register | deregister)
    snapshot    Saves, restores and inspects snapshots of the servers' state (snapshot save | restore | inspect)
    tls         Creates a private CA and agent certificates (tls ca create | tls cert create -server|-client|-cli)
    local-cluster  Runs the cluster in dc-configs/ as local processes (npm start)
    validate    Checks config files and directories as an agent would load them (-quiet)
    version     Prints the version (-format=json)
    watch       Watches a key, prefix, service, nodes, checks or events and runs a handler on changes
`;

type Command = (argv: string[], io: Io) => Promise<number>;

// Each command's module is loaded only when it runs: an agent process (one per node, idle for
// days) then carries none of the CLI's or the gateway's code in its memory.
const commands: Record<string, () => Promise<Command>> = {
  acl: async () => (await import('./commands/acl.js')).aclCommand,
  agent: async () => (await import('./commands/agent.js')).agentCommand,
  catalog: async () => (await import('./commands/catalog.js')).catalogCommand,
  event: async () => (await import('./commands/event.js')).eventCommand,
  'force-leave': async () => (await import('./commands/members.js')).forceLeaveCommand,
  gateway: async () => (await import('./commands/gateway.js')).gatewayCommand,
  info: async () => (await import('./commands/agent-ops.js')).infoCommand,
  join: async () => (await import('./commands/members.js')).joinCommand,
  keygen: async () => (await import('./commands/keyring.js')).keygenCommand,
  keyring: async () => (await import('./commands/keyring.js')).keyringCommand,
  kv: async () => (await import('./commands/kv.js')).kvCommand,
  leave: async () => (await import('./commands/members.js')).leaveCommand,
  lock: async () => (await import('./commands/lock.js')).lockCommand,
  maint: async () => (await import('./commands/maint.js')).maintCommand,
  members: async () => (await import('./commands/members.js')).membersCommand,
  monitor: async () => (await import('./commands/agent-ops.js')).monitorCommand,
  'local-cluster': async () => (await import('./commands/local-cluster.js')).localClusterCommand,
  operator: async () => (await import('./commands/operator.js')).operatorCommand,
  reload: async () => (await import('./commands/agent-ops.js')).reloadCommand,
  rtt: async () => (await import('./commands/rtt.js')).rttCommand,
  services: async () => (await import('./commands/services.js')).servicesCommand,
  snapshot: async () => (await import('./commands/snapshot.js')).snapshotCommand,
  tls: async () => (await import('./commands/tls.js')).tlsCommand,
  watch: async () => (await import('./commands/watch.js')).watchCommand,
  validate: async () => (await import('./commands/validate.js')).validateCommand,
  version: async () => (await import('./commands/version.js')).versionCommand,
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    io.out(USAGE);
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    io.err(`Unknown command: "${name}"\n${USAGE}`);
    return 1;
  }
  try {
    return await (
      await cmd()
    )(rest, io);
  } catch (err) {
    return errorExit(err, io);
  }
}

export { UsageError };
