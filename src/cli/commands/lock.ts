// consulate lock: Consul's lock command in its default mode (one holder, the lock at
// `<prefix>/.lock`). It creates a session (TTL 15 s, renewed at half of it), acquires the key,
// runs the child through a shell while holding it, kills the child if the lock is lost (the key
// changes hands or the session is invalidated), then releases, destroys the session and exits with
// the child's code.

import { spawn, type ChildProcess } from 'node:child_process';
import { pause } from '../../core/clock.js';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import { encodeKey, type ConsulClient, type KVPair } from '../../client/client.js';
import { clientFrom, flagBool, flagInt, flagString, parseArgs, UsageError, type Io } from '../common.js';

/** Consul's api.DefaultLockSessionTTL. */
const SESSION_TTL_MS = 15_000;
/** How long one blocking read of the lock key waits before asking again. */
const WATCH_WAIT = '10s';
/** After the holder let go an acquire may still be refused by the lock delay; retry this often. */
const RETRY_MS = 1000;

const USAGE = 'Usage: consulate lock [options] prefix child...';

export async function lockCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, {
    n: 'value',
    name: 'value',
    timeout: 'value',
    try: 'value',
    shell: 'bool',
    verbose: 'bool',
  });
  const [prefix, ...child] = p.args;
  if (!prefix || child.length === 0) throw new UsageError(`${USAGE}\nError! Missing prefix or child command`);
  const n = flagInt(p, 'n') ?? 1;
  if (n !== 1) throw new UsageError('Only -n=1 (a lock) is supported; semaphores (-n > 1) are not');
  // Consul's -try (one attempt, waiting up to the duration) and the older -timeout mean the same here.
  const waitFlag = p.flags.has('try') ? 'try' : 'timeout';
  const timeoutText = flagString(p, waitFlag);
  const timeoutMs = timeoutText === undefined ? 0 : parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs < 0)
    throw new UsageError(`invalid duration "${timeoutText}" for -${waitFlag}`);
  const useShell = p.flags.has('shell') ? flagBool(p, 'shell') : true;
  const verbose = flagBool(p, 'verbose');
  const script = child.join(' ');
  const name = flagString(p, 'name') ?? `Consul lock for '${script}' at '${prefix}'`;
  const key = `${prefix.replace(/\/+$/, '')}/.lock`;
  const client = clientFrom(p, io);
  const say = (s: string): void => {
    if (verbose) io.err(`${s}\n`);
  };

  const { ID: session } = await client.json<{ ID: string }>('PUT', '/v1/session/create', {
    body: JSON.stringify({ Name: name, TTL: `${SESSION_TTL_MS / 1000}s` }),
  });
  const stop = new AbortController();
  let lost: string | null = null;
  let childProc: ChildProcess | null = null;
  const loseLock = (why: string): void => {
    if (lost !== null || stop.signal.aborted) return;
    lost = why;
    io.err(`Lock lost (${why}); killing child\n`);
    const c = childProc;
    killGroup(c, 'SIGTERM');
    setTimeout(() => killGroup(c, 'SIGKILL'), 5000).unref();
  };
  const renewing = renewLoop(client, session, stop.signal, loseLock);
  try {
    say(`Attempting lock acquisition on ${key}`);
    const got = await acquire(client, key, session, timeoutMs, stop.signal);
    if (!got) {
      io.err('Shutdown triggered or timeout during lock acquisition\n');
      return 1;
    }
    say(`Lock acquired on ${key}; running: ${script}`);
    const watching = watchLock(client, key, session, stop.signal, loseLock);
    // A process group of its own, so a lost lock stops the shell and everything it started.
    childProc = useShell
      ? spawn('/bin/sh', ['-c', script], { stdio: 'inherit', detached: true })
      : spawn(child[0] as string, child.slice(1), { stdio: 'inherit', detached: true });
    const forward = (sig: NodeJS.Signals): void => killGroup(childProc, sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    let code: number;
    try {
      code = await exitCodeOf(childProc);
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
    stop.abort();
    await watching;
    say(`Child exited with ${code}; releasing ${key}`);
    if (lost !== null) return code === 0 ? 1 : code;
    return code;
  } finally {
    stop.abort();
    await renewing;
    await cleanUp(client, key, session);
  }
}

/** Tries to take the lock until it is ours or the timeout (0: none) passes. */
async function acquire(
  client: ConsulClient,
  key: string,
  session: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  let index = 0;
  let free = false;
  while (!signal.aborted && Date.now() < deadline) {
    const ok = await client.json<boolean>('PUT', `/v1/kv/${encodeKey(key)}`, { query: { acquire: session } });
    if (ok) return true;
    // Held by another: wait (a blocking read) for the key to change, then try again. Seen free, it
    // is read again at once: an acquire refused on a free key is the lock delay, retried each second.
    const left = deadline - Date.now();
    const wait = left < 10_000 ? `${Math.max(1, Math.floor(left))}ms` : WATCH_WAIT;
    const r = await client.request('GET', `/v1/kv/${encodeKey(key)}`, {
      query: free ? {} : { index, wait },
    });
    const holder = r.status === 200 ? (JSON.parse(r.body.toString()) as KVPair[])[0]?.Session : undefined;
    if (r.index > 0) index = r.index;
    if (holder) {
      free = false;
      continue;
    }
    if (free) await pause(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())), signal);
    free = true;
  }
  return false;
}

/** Renews the session at half its TTL; a session the servers no longer know means the lock is gone. */
async function renewLoop(
  client: ConsulClient,
  session: string,
  signal: AbortSignal,
  lose: (why: string) => void,
): Promise<void> {
  while (!signal.aborted) {
    await pause(SESSION_TTL_MS / 2, signal);
    if (signal.aborted) return;
    try {
      const r = await client.request('PUT', `/v1/session/renew/${session}`);
      if (r.status === 404) {
        lose('session invalidated');
        return;
      }
    } catch {
      // A server unreachable for a moment: the TTL leaves room for the next try.
    }
  }
}

/** Watches the lock key with blocking reads; it changing hands or vanishing means the lock is lost. */
async function watchLock(
  client: ConsulClient,
  key: string,
  session: string,
  signal: AbortSignal,
  lose: (why: string) => void,
): Promise<void> {
  let index = 0;
  while (!signal.aborted) {
    try {
      const r = await client.request('GET', `/v1/kv/${encodeKey(key)}`, {
        query: { index, wait: WATCH_WAIT },
        signal,
      });
      if (signal.aborted) return;
      const e = r.status === 200 ? (JSON.parse(r.body.toString()) as KVPair[])[0] : undefined;
      if (r.status === 404 || (r.status === 200 && e?.Session !== session)) {
        lose('the lock key changed hands');
        return;
      }
      if (r.index > 0) index = r.index;
    } catch {
      if (signal.aborted) return;
      await pause(RETRY_MS, signal);
    }
  }
}

/** Releases the lock, deletes the key if nobody took it meanwhile, and destroys the session. */
async function cleanUp(client: ConsulClient, key: string, session: string): Promise<void> {
  const path = `/v1/kv/${encodeKey(key)}`;
  try {
    await client.request('PUT', path, { query: { release: session } });
    const r = await client.request('GET', path);
    const e = r.status === 200 ? (JSON.parse(r.body.toString()) as KVPair[])[0] : undefined;
    if (e && !e.Session) await client.request('DELETE', path, { query: { cas: e.ModifyIndex } });
  } catch {
    // Best effort: destroying the session below releases the lock anyway.
  }
  try {
    await client.request('PUT', `/v1/session/destroy/${session}`);
  } catch {
    // The TTL invalidates it within 2×15 s.
  }
}

function killGroup(p: ChildProcess | null, sig: NodeJS.Signals): void {
  if (!p?.pid || p.exitCode !== null) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    p.kill(sig); // the group is gone already; try the process itself
  }
}

function exitCodeOf(p: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    p.once('error', (err) =>
      reject(new ConsulError(ErrorCode.BadRequest, `Error running child: ${err.message}`)),
    );
    p.once('exit', (code, sig) => resolve(code ?? (sig ? 128 + signalNumber(sig) : 1)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig] ?? 1;
}
