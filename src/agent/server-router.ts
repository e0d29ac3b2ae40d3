// How a client agent reaches the servers (Consul's agent/router): the servers of its datacenter as
// gossip shows them, one preferred at a time over a pooled RPC connection. When the preferred server
// cannot be reached the client moves to another and retries, so a dead server costs a caller a
// retry, not an error. Requests that may have reached a server are only retried when repeating them
// is harmless (reads), or when the server said no leader yet (nothing was applied).

import type { Logger } from 'pino';
import { retryBackoffMs, sleep } from '../core/clock.js';
import { ConsulError, ErrorCode, messages } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { endpoints, type EndpointName } from '../rpc/endpoints/index.js';

export interface ServerRouterDeps {
  /** RPC addresses ("host:port") of the alive servers of this datacenter. */
  servers(): string[];
  call(addr: string, method: string, args: unknown, signal: AbortSignal): Promise<unknown>;
  rng: Rng;
  logger: Logger;
  holdTimeoutMs: number;
}

export class ServerRouter {
  private preferred = '';

  constructor(private readonly d: ServerRouterDeps) {}

  /** The server requests go to now ('' when none is known). */
  current(): string {
    const servers = this.d.servers();
    if (servers.length === 0) return '';
    if (!servers.includes(this.preferred)) this.preferred = servers[this.d.rng.int(servers.length)] as string;
    return this.preferred;
  }

  async call(method: string, args: unknown, signal: AbortSignal): Promise<unknown> {
    const deadline = Date.now() + this.d.holdTimeoutMs;
    const safeToRepeat = isReadOrLocal(method);
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      const addr = this.current();
      if (addr !== '') {
        try {
          return await this.d.call(addr, method, args, signal);
        } catch (err) {
          if (!(err instanceof ConsulError)) throw err;
          const unreachable = err.code === ErrorCode.Unavailable;
          const noLeaderYet = err.code === ErrorCode.NoLeader || err.code === ErrorCode.NotLeader;
          if (unreachable) this.failed(addr, err);
          // A write whose connection dropped may have been applied: say so rather than apply twice.
          if (unreachable && !safeToRepeat && !err.message.includes('cannot reach')) throw err;
          if (!unreachable && !noLeaderYet) throw err;
        }
      }
      if (Date.now() >= deadline) {
        throw addr === ''
          ? new ConsulError(ErrorCode.NoLeader, `${messages.noLeader}: no known Consul servers`)
          : new ConsulError(ErrorCode.NoLeader, messages.noLeader);
      }
      await sleep(Math.min(retryBackoffMs(attempt, this.d.rng), Math.max(1, deadline - Date.now())), signal);
    }
  }

  /** Moves off a server that could not be reached. */
  private failed(addr: string, err: ConsulError): void {
    if (this.preferred !== addr) return;
    const others = this.d.servers().filter((s) => s !== addr);
    this.preferred = others.length > 0 ? (others[this.d.rng.int(others.length)] as string) : '';
    this.d.logger.info({ from: addr, to: this.preferred, err: err.message }, 'moving to another server');
  }
}

function isReadOrLocal(method: string): boolean {
  const ep = (endpoints as Record<string, { kind: string }>)[method as EndpointName];
  return ep !== undefined && ep.kind !== 'write';
}
