// One script check run, as Consul's: Args executed directly (no shell), stdout and stderr captured
// together in a bounded tail buffer; exit 0 passing, 1 warning, anything else critical. A run that
// outlives the timeout is killed with its whole process group and reported as
// "Timed out (<timeout>) running check".

import { spawn } from 'node:child_process';
import { formatDuration } from '../../core/duration.js';
import type { CheckDefinition } from './definition.js';
import { TailBuffer } from './output.js';
import { setLongTimeout } from './timers.js';
import type { CheckResult } from './runner.js';

/** SIGKILL to the child's process group (it leads one: detached), so grandchildren die too. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone, or the group could not be signalled: fall back to the child alone.
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

export function runScriptCheck(def: CheckDefinition, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const [cmd, ...args] = def.Args as [string, ...string[]];
    const output = new TailBuffer(def.OutputMaxSize);
    let timedOut = false;
    let settled = false;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });

    const finish = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      timer.clear();
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const timer = setLongTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, def.TimeoutMs);
    const onAbort = (): void => killGroup(child.pid);
    signal.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (c: Buffer) => output.write(c));
    child.stderr.on('data', (c: Buffer) => output.write(c));
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Go's words: a bare name is looked up in PATH, a path is run as it is.
      const msg =
        err.code !== 'ENOENT'
          ? err.message
          : cmd.includes('/')
            ? `fork/exec ${cmd}: no such file or directory`
            : `exec: ${JSON.stringify(cmd)}: executable file not found in $PATH`;
      finish({ status: 'critical', output: msg });
    });
    // 'close' comes once the process has exited and its pipes are drained: the output is complete.
    child.once('close', (code: number | null) => {
      if (timedOut) {
        const text = output.text();
        const msg = `Timed out (${formatDuration(def.TimeoutMs)}) running check`;
        finish({ status: 'critical', output: text === '' ? msg : `${msg}\n\n${text}` });
        return;
      }
      const status = code === 0 ? 'passing' : code === 1 ? 'warning' : 'critical';
      finish({ status, output: output.text() });
    });
  });
}
