// The consulate command: dispatches subcommands (Consul's command/ tree).

import { agentCommand } from './commands/agent.js';
import { catalogCommand } from './commands/catalog.js';
import { eventCommand } from './commands/event.js';
import { gatewayCommand } from './commands/gateway.js';
import { keygenCommand, keyringCommand } from './commands/keyring.js';
import { forceLeaveCommand, joinCommand, leaveCommand, membersCommand } from './commands/members.js';
import { kvCommand } from './commands/kv.js';
import { localClusterCommand } from './commands/local-cluster.js';
import { lockCommand } from './commands/lock.js';
import { maintCommand } from './commands/maint.js';
import { operatorCommand } from './commands/operator.js';
import { rttCommand } from './commands/rtt.js';
import { servicesCommand } from './commands/services.js';
import { watchCommand } from './commands/watch.js';
import { errorExit, processIo, UsageError, type Io } from './common.js';
import { VERSION } from '../version.js';

const USAGE = `Usage: consulate <command> [args]

Commands:
    agent       Runs a Consulate agent (Consul's flags: -server, -bootstrap-expect, -retry-join, -data-dir ...)
    catalog     Lists datacenters, nodes and services (catalog datacenters | nodes | services)
    event       Fires a user event (-name, -node, -service, -tag, payload)
    force-leave Forces a failed member to leave the pool
    gateway     Runs the edge gateway of a datacenter (-server <agent http addr>, -http-port 8080)
    join        Tells the local agent to join a gossip pool through an address
    keygen      Generates a new gossip encryption key
    keyring     Lists, installs, uses and removes gossip keys on every member
    kv          Get, put and delete keys
    leave       Makes the local agent leave the pool gracefully and shut down
    lock        Runs a command while holding a lock (-n=1, -name, -timeout, -shell)
    maint       Puts the node or a service in maintenance mode, or lists what is (-enable, -disable, -reason, -service)
    members     Lists the members of the gossip pool
    operator    Raft peer operations (operator raft list-peers | remove-peer)
    rtt         Estimates the network round trip time between two nodes (-wan for servers of any DC)
    services    Registers and deregisters services with the local agent (services register | deregister)
    local-cluster  Runs the cluster in dc-configs/ as local processes (npm start)
    version     Prints the version
    watch       Watches a key, prefix, service, nodes, checks or events and runs a handler on changes
`;

const commands: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  agent: agentCommand,
  catalog: catalogCommand,
  event: eventCommand,
  'force-leave': forceLeaveCommand,
  gateway: gatewayCommand,
  join: joinCommand,
  keygen: keygenCommand,
  keyring: keyringCommand,
  kv: kvCommand,
  leave: leaveCommand,
  lock: lockCommand,
  maint: maintCommand,
  members: membersCommand,
  'local-cluster': localClusterCommand,
  operator: operatorCommand,
  rtt: rttCommand,
  services: servicesCommand,
  watch: watchCommand,
  version: async (_argv, io) => {
    io.out(`Consulate v${VERSION}\nProtocol 2 spoken by default (Consul-compatible HTTP API)\n`);
    return 0;
  },
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
    return await cmd(rest, io);
  } catch (err) {
    return errorExit(err, io);
  }
}

export { UsageError };
