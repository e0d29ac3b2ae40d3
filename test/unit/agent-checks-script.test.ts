import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCRIPTS_DISABLED, SCRIPTS_DISABLED_REMOTE, startCheck } from '../../src/agent/checks/runner.js';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { def, first } from './agent-checks-helpers.js';

const node = process.execPath;
const script = (code: string, extra: Record<string, unknown> = {}) =>
  def({ Args: [node, '-e', code], Interval: '10s', ...extra });

/** Running (a zombie waiting for a reaper that is not us counts as dead). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('script checks', () => {
  it('maps exit codes like Consul (0 passing, 1 warning, other critical), with stdout and stderr', async () => {
    expect(await first(script('console.log("all fine")'))).toEqual({
      status: 'passing',
      output: 'all fine\n',
    });
    expect(await first(script('console.error("disk 85%"); process.exit(1)'))).toEqual({
      status: 'warning',
      output: 'disk 85%\n',
    });
    expect(
      await first(script('process.stdout.write("a"); process.stderr.write("b"); process.exit(2)')),
    ).toEqual({
      status: 'critical',
      output: expect.stringMatching(/^(ab|ba)$/),
    });
    // Args run without a shell: shell syntax reaches the program as plain text.
    expect(await first(def({ Args: ['/bin/echo', '$HOME', '&&', 'false'], Interval: '10s' }))).toEqual({
      status: 'passing',
      output: '$HOME && false\n',
    });
  });

  it('keeps the last OutputMaxSize bytes and says how much there was', async () => {
    const r = await first(
      script('process.stdout.write("a".repeat(9900) + "b".repeat(100))', { OutputMaxSize: 100 }),
    );
    expect(r).toEqual({ status: 'passing', output: `Captured 100 of 10000 bytes\n...\n${'b'.repeat(100)}` });
  });

  it('kills a script that outlives its timeout, children included, and reports it critical', async () => {
    const r = await first(
      def({ Args: ['/bin/sh', '-c', 'sleep 60 & echo $!; wait'], Interval: '10s', Timeout: '1s' }),
    );
    expect(r.status).toBe('critical');
    const m = /^Timed out \(1s\) running check\n\n(\d+)\n$/.exec(r.output);
    expect(m, r.output).not.toBeNull();
    const pid = Number(m?.[1]);
    await until(() => !alive(pid), 'the grandchild to die');
  });

  it('is critical when the program cannot be started', async () => {
    expect(await first(def({ Args: ['/no/such/check'], Interval: '10s' }))).toEqual({
      status: 'critical',
      output: 'fork/exec /no/such/check: no such file or directory',
    });
    expect(await first(def({ Args: ['no-such-check-program'], Interval: '10s' }))).toEqual({
      status: 'critical',
      output: 'exec: "no-such-check-program": executable file not found in $PATH',
    });
  });

  it('stop() kills the running script and reports nothing', async () => {
    const updates: unknown[] = [];
    let pid = 0;
    const d = script('console.log(process.pid); setTimeout(() => {}, 60000)', { Timeout: '60s' });
    const check = startCheck(d, {
      update: (r) => updates.push(r),
      logger: silentLogger(),
      allowScripts: true,
      minIntervalMs: 0,
      random: () => 0,
    });
    // The script's pid is not visible until it prints; find it among our children instead.
    const { execFileSync } = await import('node:child_process');
    await until(() => {
      const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)]).toString();
      const line = out.split('\n').find((l) => l.includes('setTimeout(() => {}, 60000)'));
      pid = line ? Number(line.trim().split(/\s+/)[0]) : 0;
      return pid > 0;
    }, 'the script to start');
    check.stop();
    await until(() => !alive(pid), 'the script to be killed');
    await new Promise((r) => setTimeout(r, 100));
    expect(updates).toEqual([]);
  });

  it('refuses to start when scripts are disabled, with Consul’s message', () => {
    const d = script('1');
    const opts = { update: () => {}, logger: silentLogger(), allowScripts: false };
    let err: unknown;
    try {
      startCheck(d, opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).code).toBe(ErrorCode.BadRequest);
    expect((err as Error).message).toBe(SCRIPTS_DISABLED);
    expect(SCRIPTS_DISABLED).toBe(
      "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true",
    );
    expect(() => startCheck(d, { ...opts, scriptSource: 'remote' })).toThrow(SCRIPTS_DISABLED_REMOTE);
  });
});
