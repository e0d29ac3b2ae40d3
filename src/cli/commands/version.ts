// consulate version [-format=pretty|json]: Consul's layout (no revision or build date: a build of
// this project carries neither).

import { flagString, parseArgs, UsageError, type Io } from '../common.js';
import { VERSION } from '../../version.js';

export function versionCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, { format: 'value' });
  if (p.args.length > 0) throw new UsageError(`Too many arguments (expected 0, got ${p.args.length})`);
  const format = flagString(p, 'format') ?? 'pretty';
  if (format === 'json') {
    const info = {
      Version: VERSION,
      Revision: '',
      Prerelease: '',
      FIPS: '',
      BuildDate: '',
      RPC: { Default: 2, Min: 2, Max: 3 },
    };
    io.out(JSON.stringify(info, null, 2) + '\n');
  } else if (format === 'pretty') {
    io.out(
      `Consulate v${VERSION}\n` +
        'Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)\n',
    );
  } else {
    throw new UsageError(`Invalid format "${format}": must be one of pretty, json`);
  }
  return Promise.resolve(0);
}
