// consulate agent: starts an agent (server or client) with Consul's flags and config files.

import { setFlagsFromString } from 'node:v8';
import { Agent } from '../../agent/agent.js';
import { validateConfig, type AgentConfig } from '../../config/config.js';
import { loadAgentConfig } from '../../config/load.js';
import { ConsulError, ErrorCode } from '../../core/errors.js';
import { RotatingLogFile } from '../../core/log-file.js';
import { LogHub, streamOutput } from '../../core/logger.js';
import { resolveAdvertiseNames } from '../../server/net.js';
import type { Io } from '../common.js';
import { readyFile } from '../ready-file.js';

export async function agentCommand(argv: string[], _io: Io): Promise<number> {
  const ready = readyFile();
  const config = loadAgentConfig(argv);
  // A client agent runs on every machine and does little: keep V8's young generation at its
  // initial size instead of letting a burst (a pool joining, a flurry of requests) grow it to
  // 16 MB per semi-space and keep it. In a 50-member pool this took idle agents from 78 to 70 MB
  // (median) for some more, cheap, scavenges. Servers keep V8's default: they hold the state and
  // carry the write and read load. The growth factor is read at each growth, so setting it now
  // applies (the maximum size is not: it is fixed when the heap is set up).
  if (!config.server) setFlagsFromString('--semi-space-growth-factor=1');
  await resolveAdvertiseNames(config);
  const warnings = validateConfig(config);
  const logs = new LogHub(config.logLevel, logOutputs(config));
  const logger = logs.logger;
  for (const w of warnings) logger.warn(w);
  // A reload reads the same files and flags again, through the same checks as at start.
  const configSource = async (): Promise<AgentConfig> => {
    const next = loadAgentConfig(argv);
    await resolveAdvertiseNames(next);
    validateConfig(next);
    return next;
  };
  const agent = new Agent(config, logger.child({ component: 'agent' }), { logs, configSource });
  // Consul's SIGHUP: reload the config (what cannot change is reported in the log). Handled from
  // the start: SIGHUP's default action would end the process.
  let started = false;
  process.on('SIGHUP', () => {
    if (!started) {
      logger.warn({ signal: 'SIGHUP' }, 'caught signal while starting: nothing reloaded');
      return;
    }
    logger.info({ signal: 'SIGHUP' }, 'caught signal, reloading configuration');
    agent.reload().catch(() => undefined); // the agent logs why a reload was refused
  });
  try {
    await agent.start();
    started = true;
    // A client agent, from here on, runs code as baseline (Sparkplug) machine code from its first
    // call instead of in the interpreter until it is warm: a gossip join wakes dozens of cold code
    // paths in every agent at once, and interpreting, then tiering them up, cost a 50-member pool
    // of clients on 2 cores about a quarter of its join time (bench: GOSSIP_NODE_FLAGS). Set only
    // now, so the code that ran once to start the agent stays bytecode (set at launch, the baseline
    // code took idle clients from 71 to 73-81 MB median). Servers go without: it cost a server's
    // peak HTTP reads 7-10%, and servers carry the load.
    if (!config.server) setFlagsFromString('--always-sparkplug');
    ready.ready();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
    // /v1/agent/leave (consul leave) stops the agent from the inside.
    void agent.stopped.then(() => {
      ready.clear();
      resolve(0);
    });
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal: sig }, 'caught signal, shutting down');
      ready.clear();
      void agent.stop().then(() => resolve(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

/** stdout, and the -log-file when one is set (opened now: an unusable path stops the agent here). */
function logOutputs(c: AgentConfig): { json: boolean; write(line: string): void }[] {
  const outs = [streamOutput(process.stdout, c.logJson)];
  if (c.logFile === '') return outs;
  const file = new RotatingLogFile({
    path: c.logFile,
    rotateBytes: c.logRotateBytes,
    rotateDurationMs: c.logRotateDurationMs,
    maxFiles: c.logRotateMaxFiles,
  });
  try {
    file.open();
  } catch (err) {
    throw new ConsulError(
      ErrorCode.Config,
      `cannot open the log file ${file.path}: ${(err as Error).message}`,
    );
  }
  let failed = false;
  outs.push({
    json: c.logJson,
    write: (line) => {
      try {
        file.write(line);
        failed = false;
      } catch (err) {
        // A full disk must not stop the agent; say so once on stderr until writes work again.
        if (!failed) process.stderr.write(`log file ${file.path}: ${(err as Error).message}\n`);
        failed = true;
      }
    },
  });
  return outs;
}
