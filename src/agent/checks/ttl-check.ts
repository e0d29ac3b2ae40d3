// The TTL check: a dead man's switch. The application reports through the API within every TTL,
// or the check turns critical with Consul's "TTL expired" output (plus the last output it gave).

import type { CheckDefinition } from './definition.js';
import { truncateTtlOutput } from './output.js';
import type { RunnerOptions, RunningCheck } from './runner.js';
import { setLongTimeout, type Timer } from './timers.js';
import { safeUpdate } from './update.js';

export function startTtlCheck(def: CheckDefinition, opts: RunnerOptions): RunningCheck {
  let timer: Timer | undefined;
  let stopped = false;
  let lastOutput = '';

  const arm = (): void => {
    timer?.clear();
    timer = setLongTimeout(() => {
      timer = undefined;
      if (stopped) return;
      opts.logger.warn({ check: def.CheckID }, 'Check missed TTL, is now critical');
      const output =
        lastOutput === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${lastOutput}`;
      safeUpdate(opts, def, { status: 'critical', output });
    }, def.TTLMs);
  };
  arm();

  return {
    stop() {
      stopped = true;
      timer?.clear();
      timer = undefined;
    },
    heartbeat(output?: string) {
      if (stopped) return;
      if (output !== undefined) lastOutput = truncateTtlOutput(output, def.OutputMaxSize);
      // Consul re-arms the timer even after it fired: a late heartbeat revives the check.
      arm();
    },
  };
}
