// The CLI's Io with its output captured, for tests that run commands in process.

import type { Io } from '../../src/cli/common.js';

export type CapturedIo = Io & { stdout: string; stderr: string };

export function captureIo(env: NodeJS.ProcessEnv = {}, stdin: Buffer = Buffer.alloc(0)): CapturedIo {
  const io: CapturedIo = {
    stdout: '',
    stderr: '',
    out: (s) => (io.stdout += s),
    err: (s) => (io.stderr += s),
    stdin: () => Promise.resolve(stdin),
    env,
  };
  return io;
}
