// The ready file of a container health check: `test -f` of a file costs a container almost no CPU,
// where a probe that starts node to call the HTTP API costs ~0.1-0.2 s of CPU each time (measured;
// it adds up to most of a core for ten containers on two cores). The image sets
// CONSULATE_READY_FILE; elsewhere it is unset and nothing is written.

import { rmSync, writeFileSync } from 'node:fs';

export interface ReadyFile {
  /** Written once the agent or gateway serves its HTTP API. */
  ready(): void;
  /** Removed on the way out, so a stopped container never looks healthy. */
  clear(): void;
}

export function readyFile(path: string | undefined = process.env['CONSULATE_READY_FILE']): ReadyFile {
  if (!path) return { ready: () => undefined, clear: () => undefined };
  const clear = (): void => rmSync(path, { force: true });
  // A container keeps its file system across stop and start: the last run's file must not count.
  clear();
  return { ready: () => writeFileSync(path, `${process.pid}\n`), clear };
}
