// Shared by the agent-checks tests: definitions in a line, and the first results of a real runner.

import { parseCheckDefinition, type CheckDefinition } from '../../src/agent/checks/definition.js';
import { startCheck, type CheckResult, type RunnerOptions } from '../../src/agent/checks/runner.js';
import { pino, type Logger } from 'pino';
import { silentLogger } from '../../src/core/logger.js';

export function def(raw: Record<string, unknown>): CheckDefinition {
  return parseCheckDefinition({ Name: 'test', ...raw });
}

/**
 * Starts the check with no interval floor and no stagger, waits for `count` results (generous
 * deadline: a loaded 2-core machine), stops it and returns them.
 */
export async function results(
  d: CheckDefinition,
  count = 1,
  extra: Partial<RunnerOptions> = {},
  deadlineMs = 30_000,
): Promise<CheckResult[]> {
  const got: CheckResult[] = [];
  let wake: () => void = () => {};
  const enough = new Promise<void>((resolve) => (wake = resolve));
  const check = startCheck(d, {
    update: (r) => {
      got.push(r);
      if (got.length >= count) wake();
    },
    logger: silentLogger(),
    allowScripts: true,
    minIntervalMs: 0,
    random: () => 0,
    ...extra,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`only ${got.length} of ${count} results in ${deadlineMs} ms`)),
      deadlineMs,
    );
  });
  try {
    await Promise.race([enough, deadline]);
  } finally {
    clearTimeout(timer);
    check.stop();
  }
  return got.slice(0, count);
}

export async function first(d: CheckDefinition, extra: Partial<RunnerOptions> = {}): Promise<CheckResult> {
  return (await results(d, 1, extra))[0] as CheckResult;
}

/** A real pino logger whose records land in `records` (level and msg), for asserting on logs. */
export function capturingLogger(): { logger: Logger; records: Array<{ level: number; msg: string }> } {
  const records: Array<{ level: number; msg: string }> = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const o = JSON.parse(line) as { level: number; msg: string };
        records.push({ level: o.level, msg: o.msg });
      },
    },
  );
  return { logger, records };
}
