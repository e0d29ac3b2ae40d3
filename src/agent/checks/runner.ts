// Runs one check: the interval checks (HTTP, TCP, script) on a timer with Consul's initial stagger,
// one run at a time, and the TTL check as a dead man's switch. A runner owns only unref'd timers,
// its in-flight request or process, and never throws into the event loop: every failure becomes a
// critical result or a log line.

import type { Logger } from 'pino';
import { badRequest } from '../../core/errors.js';
import type { CheckDefinition } from './definition.js';
import { runHttpCheck } from './http-check.js';
import { runScriptCheck } from './script-check.js';
import { runTcpCheck } from './tcp-check.js';
import { setLongTimeout, type Timer } from './timers.js';
import { startTtlCheck } from './ttl-check.js';
import { safeUpdate } from './update.js';

export type CheckResult = { status: 'passing' | 'warning' | 'critical'; output: string };

export interface RunnerOptions {
  /** Called with every result (also unchanged ones; the caller decides what to sync). */
  update(result: CheckResult): void;
  logger: Logger;
  /** Whether script checks may run (enable_script_checks / enable_local_script_checks decided by the caller). */
  allowScripts: boolean;
  /** Which refusal to give when scripts are off: Consul words local and remote (API) registrations differently. */
  scriptSource?: 'local' | 'remote';
  /** Floor for IntervalMs (Consul: 1 s, raised with a warning). Tests lower it. */
  minIntervalMs?: number;
  /** Random in [0, 1) for the first run's stagger (default Math.random). */
  random?: () => number;
}

export interface RunningCheck {
  stop(): void;
  /**
   * TTL checks: a pass/warn/fail/update arrived; restart the TTL timer. No-op for other kinds.
   * The output given (if any) is kept, cut as Consul does, for the "TTL expired" message.
   */
  heartbeat(output?: string): void;
}

/** Consul's MinInterval: lower would let a check fork-bomb the machine. */
export const MIN_INTERVAL_MS = 1000;

export const SCRIPTS_DISABLED =
  "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true";
export const SCRIPTS_DISABLED_REMOTE =
  "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";

type Probe = (def: CheckDefinition, signal: AbortSignal) => Promise<CheckResult>;

const noop: RunningCheck = { stop() {}, heartbeat() {} };

/** Starts the runner for def.kind ('none' → a RunningCheck that does nothing). */
export function startCheck(def: CheckDefinition, opts: RunnerOptions): RunningCheck {
  switch (def.kind) {
    case 'none':
      return noop;
    case 'ttl':
      return startTtlCheck(def, opts);
    case 'http':
      return startInterval(def, opts, runHttpCheck);
    case 'tcp':
      return startInterval(def, opts, runTcpCheck);
    case 'script':
      if (!opts.allowScripts)
        throw badRequest(opts.scriptSource === 'remote' ? SCRIPTS_DISABLED_REMOTE : SCRIPTS_DISABLED);
      return startInterval(def, opts, runScriptCheck);
  }
}

/**
 * Runs probe every interval, the first time after a random stagger within the interval so that an
 * agent starting many checks does not fire them all at once (Consul's lib.RandomStagger). The next
 * run is timed from the end of the previous one, so runs never overlap.
 */
function startInterval(def: CheckDefinition, opts: RunnerOptions, probe: Probe): RunningCheck {
  const log = opts.logger;
  const floor = opts.minIntervalMs ?? MIN_INTERVAL_MS;
  let interval = def.IntervalMs;
  if (interval < floor) {
    log.warn({ check: def.CheckID, minimum_interval: floor }, 'check has interval below minimum');
    interval = floor;
  }
  let stopped = false;
  let timer: Timer | undefined;
  let inflight: AbortController | undefined;
  let last: CheckResult['status'] | undefined;

  const schedule = (ms: number): void => {
    timer = setLongTimeout(() => {
      run().catch((err: unknown) => log.error({ check: def.CheckID, err }, 'check run failed'));
    }, ms);
  };

  const run = async (): Promise<void> => {
    timer = undefined;
    if (stopped) return;
    const ctl = new AbortController();
    inflight = ctl;
    let result: CheckResult;
    try {
      result = await probe(def, ctl.signal);
    } catch (err) {
      result = { status: 'critical', output: err instanceof Error ? err.message : String(err) };
    }
    inflight = undefined;
    if (stopped) return;
    if (result.status !== last) {
      if (result.status === 'passing') log.debug({ check: def.CheckID }, 'Check is now passing');
      else log.warn({ check: def.CheckID, output: result.output }, `Check is now ${result.status}`);
      last = result.status;
    }
    safeUpdate(opts, def, result);
    schedule(interval);
  };

  schedule((opts.random ?? Math.random)() * interval);

  return {
    stop() {
      stopped = true;
      timer?.clear();
      timer = undefined;
      inflight?.abort();
      inflight = undefined;
    },
    heartbeat() {},
  };
}
