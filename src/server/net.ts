// Which address this agent tells others to reach it at: -advertise, else -bind, else (binding to
// 0.0.0.0) the machine's single private IPv4, as Consul chooses it.

import { networkInterfaces } from 'node:os';
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
