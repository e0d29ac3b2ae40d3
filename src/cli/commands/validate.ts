// consulate validate [-quiet] FILE_OR_DIRECTORY...: loads config files and directories as an
// agent would (same order, same checks) without starting anything.

import { statSync } from 'node:fs';
import { validateConfig } from '../../config/config.js';
import { loadAgentConfig } from '../../config/load.js';
import { CommandError, flagBool, parseArgs, UsageError, type Io } from '../common.js';

export async function validateCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { quiet: 'bool' });
  if (p.args.length === 0) throw new UsageError('Must specify at least one config file or directory');
  const flags = p.args.map((path) => {
    let dir: boolean;
    try {
      dir = statSync(path).isDirectory();
    } catch (err) {
      throw new CommandError(`Config validation failed: ${(err as Error).message}`);
    }
    return dir ? `-config-dir=${path}` : `-config-file=${path}`;
  });
  let warnings: string[];
  try {
    warnings = validateConfig(loadAgentConfig(flags, io.env));
  } catch (err) {
    throw new CommandError(`Config validation failed: ${(err as Error).message}`);
  }
  for (const w of warnings) io.err(`WARNING: ${w}\n`);
  if (!flagBool(p, 'quiet')) io.out('Configuration is valid!\n');
  return Promise.resolve(0);
}
