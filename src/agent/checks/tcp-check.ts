// One TCP check run, as Consul's: connect to host:port within the timeout; connected is passing
// ("TCP connect <addr>: Success"), anything else critical with the dial error in Go's words.
// Node tries a name's IPv4 and IPv6 addresses in turn (autoSelectFamily), as Go's dialer does.

import * as net from 'node:net';
import type { CheckDefinition } from './definition.js';
import type { CheckResult } from './runner.js';
import { setLongTimeout } from './timers.js';

/** host:port, [v6]:port; undefined when the port is missing (Go: "missing port in address"). */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]*):(\d+)$/.exec(addr);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1] === '' ? 'localhost' : (m[1] as string), port };
}

function dialError(addr: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`;
    case 'ENOTFOUND':
      return `dial tcp: lookup ${addr.replace(/:\d+$/, '')}: no such host`;
    default:
      return `dial tcp ${addr}: ${err.message}`;
  }
}

export function runTcpCheck(def: CheckDefinition, signal: AbortSignal): Promise<CheckResult> {
  const target = splitHostPort(def.TCP);
  if (!target) {
    return Promise.resolve({
      status: 'critical',
      output: `dial tcp ${def.TCP}: address ${def.TCP}: missing port in address`,
    });
  }
  return new Promise((resolve) => {
    let settled = false;
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      timer.clear();
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const timer = setLongTimeout(() => {
      done({ status: 'critical', output: `dial tcp ${def.TCP}: i/o timeout` });
    }, def.TimeoutMs);
    const onAbort = (): void =>
      done({ status: 'critical', output: `dial tcp ${def.TCP}: operation was canceled` });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done({ status: 'passing', output: `TCP connect ${def.TCP}: Success` }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ status: 'critical', output: dialError(def.TCP, err) }),
    );
  });
}
