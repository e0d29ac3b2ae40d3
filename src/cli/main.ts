// The consulate command: dispatches subcommands (Consul's command/ tree).

import { agentCommand } from './commands/agent.js';
import { kvCommand } from './commands/kv.js';
import { localClusterCommand } from './commands/local-cluster.js';
import { operatorCommand } from './commands/operator.js';
import { errorExit, processIo, UsageError, type Io } from './common.js';
import { VERSION } from '../version.js';

const USAGE = `Usage: consulate <command> [args]

Commands:
    agent       Runs a Consulate agent (Consul's flags: -server, -bootstrap-expect, -retry-join, -data-dir ...)
    kv          Get, put and delete keys
    operator    Raft peer operations (operator raft list-peers | remove-peer)
    local-cluster  Runs the cluster in dc-configs/ as local processes (npm start)
    version     Prints the version
`;

const commands: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  agent: agentCommand,
  kv: kvCommand,
  'local-cluster': localClusterCommand,
  operator: operatorCommand,
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
