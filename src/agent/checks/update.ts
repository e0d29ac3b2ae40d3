// Handing a result to the caller without letting the caller's failure escape into a timer callback
// (where it would crash the agent).

import type { CheckDefinition } from './definition.js';
import type { CheckResult, RunnerOptions } from './runner.js';

export function safeUpdate(opts: RunnerOptions, def: CheckDefinition, result: CheckResult): void {
  try {
    opts.update(result);
  } catch (err) {
    opts.logger.error({ check: def.CheckID, err }, 'check status update failed');
  }
}
