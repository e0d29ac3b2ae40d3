// The LAN gossip pool as the agent uses it: the tags an agent announces (Consul's serf tags), the
// gossip configuration built from the agent's, what a server member means for server discovery, and
// the join loop behind -join / -retry-join.

import type { Logger } from 'pino';
import type { AgentConfig } from '../config/config.js';
import { sleep } from '../core/clock.js';
import { DEFAULT_PACKET_BUDGET } from '../gossip/codec.js';
import type { GossipConfig, GossipTimings, Member } from '../gossip/types.js';
import type { PeerInfo } from '../rpc/codec.js';
import { VERSION } from '../version.js';

/** Consul's LAN tags: role, dc, id, protocol versions, build; servers add port, expect, raft_vsn. */
export function lanTags(c: AgentConfig, nodeId: string, rpcPort: number): Record<string, string> {
  const t: Record<string, string> = {
    role: c.server ? 'consul' : 'node',
    dc: c.datacenter,
    segment: '',
    id: nodeId,
    vsn: '2',
    vsn_min: '2',
    vsn_max: '3',
    build: `${VERSION}:consulate`,
  };
  if (c.server) {
    t['port'] = String(rpcPort);
    t['raft_vsn'] = '3';
    if (c.bootstrapExpect > 0) t['expect'] = String(c.bootstrapExpect);
    if (c.bootstrap) t['bootstrap'] = '1';
  }
  return t;
}

/** A gossip pool's configuration (LAN or WAN: same protocol, their own name, port and timings). */
export function gossipConfig(
  name: string,
  addr: string,
  port: number,
  tags: Record<string, string>,
  timings: GossipTimings,
): GossipConfig {
  return { name, addr, port, tags, timings, packetBudget: DEFAULT_PACKET_BUDGET, recentEvents: 512 };
}

export function lanGossipConfig(
  c: AgentConfig,
  addr: string,
  port: number,
  tags: Record<string, string>,
): GossipConfig {
  return gossipConfig(c.nodeName, addr, port, tags, {
    ...c.gossipLan,
    reconnectTimeoutMs: c.reconnectTimeoutMs,
  });
}

/** A server of `dc` as server discovery knows it, from its gossip member; null for anything else. */
export function serverPeer(m: Pick<Member, 'name' | 'addr' | 'tags'>, dc: string): PeerInfo | null {
  const t = m.tags;
  if (t['role'] !== 'consul' || t['dc'] !== dc || !t['id'] || !t['port']) return null;
  return {
    id: t['id'],
    name: m.name,
    addr: `${m.addr}:${t['port']}`,
    dc,
    server: true,
    expect: Number(t['expect'] ?? 0) || 0,
  };
}

export interface JoinLoopDeps {
  join(addrs: string[]): Promise<number>;
  addrs: string[];
  intervalMs: number;
  max: number;
  logger: Logger;
  stopped(): boolean;
}

/**
 * -retry-join: tries every address until one join succeeds (retry_max attempts, 0 = forever).
 * The first 30 attempts come every second so a cluster whose agents start together forms in
 * seconds; after that, retry_interval.
 */
export async function retryJoin(d: JoinLoopDeps): Promise<boolean> {
  for (let attempt = 1; !d.stopped(); attempt++) {
    try {
      const n = await d.join(d.addrs);
      d.logger.info({ addrs: d.addrs, joined: n }, 'join completed');
      return true;
    } catch (err) {
      d.logger.warn({ addrs: d.addrs, err: (err as Error).message, attempt }, 'join failed; will retry');
    }
    if (d.max > 0 && attempt >= d.max) {
      d.logger.error({ attempts: attempt }, 'giving up joining (retry_max reached)');
      return false;
    }
    await sleep(attempt < 30 ? Math.min(1000, d.intervalMs) : d.intervalMs);
  }
  return false;
}
