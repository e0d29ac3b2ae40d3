// Which address this agent tells others to reach it at: -advertise, else -bind, else (binding to
// 0.0.0.0) the machine's single private IPv4, as Consul chooses it.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { configError, type AgentConfig } from '../config/config.js';

function isPrivate(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return (
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}

export function advertiseAddress(c: AgentConfig): string {
  if (c.advertiseAddr) return c.advertiseAddr;
  if (c.bindAddr !== '0.0.0.0' && c.bindAddr !== '::') return c.bindAddr;
  const v4: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) v4.push(i.address);
  }
  const priv = [...new Set(v4.filter(isPrivate))];
  if (priv.length > 1) {
    throw configError(
      `Multiple private IPv4 addresses found (${priv.join(', ')}). Please configure one with -bind or -advertise.`,
    );
  }
  return priv[0] ?? v4[0] ?? '127.0.0.1';
}

/**
 * Ours (Consul takes an IP or a go-sockaddr template): a host name in -advertise or -advertise-wan
 * is resolved once, at start. A container on two networks (a server on its datacenter's network
 * and on the WAN) has two private addresses, so it must name one; a network alias of its own
 * resolves to its address on exactly that network, whatever order Docker attached them in. A name
 * that does not resolve yet (the network is attached just after the process starts) is retried
 * for `waitMs`.
 */
export async function resolveAdvertiseNames(
  c: Pick<AgentConfig, 'advertiseAddr' | 'advertiseAddrWan'>,
  waitMs = 15_000,
): Promise<void> {
  const resolve = async (name: string, what: string): Promise<string> => {
    if (name === '' || isIP(name) !== 0) return name;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        return (await lookup(name, { family: 4 })).address;
      } catch (err) {
        if (Date.now() >= deadline)
          throw configError(`${what}: cannot resolve "${name}": ${(err as Error).message}`);
      }
      await sleep(500);
    }
  };
  c.advertiseAddr = await resolve(c.advertiseAddr, 'advertise_addr');
  c.advertiseAddrWan = await resolve(c.advertiseAddrWan, 'advertise_addr_wan');
}
