// The server agent's composition root: node identity, Raft (storage, driver, transport), the state
// store, RPC, server discovery, and the HTTP API. Everything else receives what it needs from here.

import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { Logger } from 'pino';
import { raftTimings, type AgentConfig } from '../config/config.js';
import { systemClock } from '../core/clock.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import { cryptoRng } from '../core/rng.js';
import { createApp } from '../http/app.js';
import { RaftDriver } from '../raft/driver.js';
import { FileStorage } from '../raft/storage/file.js';
import { MemoryStorage } from '../raft/storage/memory.js';
import type { RaftStorage } from '../raft/storage/storage.js';
import type { PeerInfo } from '../rpc/codec.js';
import type { EndpointContext } from '../rpc/endpoints/index.js';
import { RpcNetwork } from '../rpc/network.js';
import { encodeCommand, type FsmCommand } from '../state/commands.js';
import { Fsm } from '../state/fsm.js';
import { Forwarder, type ForwardedCall } from './forward.js';
import { Peers } from './peers.js';
import { TombstoneGc } from './tombstone-gc.js';
import { advertiseAddress } from './net.js';

export { VERSION } from '../version.js';

export interface ServerAddresses {
  http: string | null;
  rpc: string;
}

export class ServerAgent {
  readonly config: AgentConfig;
  readonly logger: Logger;
  nodeId = '';
  readonly fsm: Fsm;
  driver!: RaftDriver;
  private network!: RpcNetwork;
  private peers!: Peers;
  forwarder!: Forwarder;
  private http: ServerType | null = null;
  private rpcAddr = '';
  private tombstones!: TombstoneGc;
  httpAddr: string | null = null;
  private readonly rng = cryptoRng();
  private stopping = false;
  readonly startedAt = Date.now();

  constructor(config: AgentConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.fsm = new Fsm(config.datacenter);
  }

  self(): PeerInfo {
    return {
      id: this.nodeId,
      name: this.config.nodeName,
      addr: this.rpcAddr,
      dc: this.config.datacenter,
      server: true,
      expect: this.config.bootstrapExpect,
    };
  }

  async start(): Promise<ServerAddresses> {
    const c = this.config;
    if (!c.dev) await mkdir(c.dataDir, { recursive: true, mode: 0o700 });
    this.nodeId = await this.loadNodeId();
    const log = this.logger;
    log.info({ node: c.nodeName, id: this.nodeId, dc: c.datacenter }, 'starting server');

    const storage: RaftStorage = c.dev ? new MemoryStorage() : new FileStorage(join(c.dataDir, 'raft'));
    this.network = new RpcNetwork({
      self: () => this.self(),
      logger: log.child({ component: 'agent.rpc' }),
      onPeerClosed: (peer) => this.driver.peerDisconnected(peer.id),
      handlers: {
        request: (method, args, signal) => this.handleRpc(method, args, signal),
        raft: (m, conn) => {
          if (conn.peer) this.peers.observe(conn.peer);
          this.driver.step(m);
        },
        hello: (peer) => this.peers?.observe(peer),
      },
    });
    this.driver = new RaftDriver({
      id: this.nodeId,
      storage,
      fsm: this.fsm,
      transport: {
        send: (m) => {
          const addr = this.addressOf(m.to);
          if (!addr) return false;
          return this.network.sendRaft(addr, m);
        },
      },
      clock: systemClock,
      rng: this.rng,
      timings: raftTimings(c),
      logger: log.child({ component: 'agent.server.raft' }),
    });
    this.tombstones = new TombstoneGc({
      ttlMs: 15 * 60_000,
      granularityMs: 30_000,
      lastIndex: () => this.fsm.store.lastIndex,
      reap: (upTo) => this.apply({ type: 'tombstoneReap', upTo }),
      now: () => Date.now(),
    });
    this.driver.on('leader', (s) => {
      if (s.role === 'leader') this.tombstones.start();
      else this.tombstones.stop();
      if (s.role === 'leader') log.info({ term: s.term }, 'this server is now the leader');
      else if (s.leader)
        log.info({ leader: this.peers.get(s.leader)?.name ?? s.leader, term: s.term }, 'following leader');
    });
    this.driver.on('fatal', (err) => {
      log.error({ err }, 'raft failed; shutting down');
      void this.stop().finally(() => process.exit(2));
    });

    this.peers = new Peers({
      self: () => this.self(),
      logger: log.child({ component: 'agent.join' }),
      retryJoin: c.retryJoin.map((a) => (a.includes(':') ? a : `${a}:8300`)),
      retryIntervalMs: c.retryIntervalMs,
      retryMax: c.retryMax,
      bootstrap: c.bootstrap,
      bootstrapExpect: c.bootstrapExpect,
      fastRetryMs: 1000,
      call: (addr, method, args) => this.network.call(addr, method, args, { timeoutMs: 5000 }),
      raftHasState: () => this.driver.hasState(),
      bootstrapRaft: (servers) => {
        this.driver.bootstrap({ servers: servers.map((s) => ({ id: s.id, address: s.addr, voter: true })) });
      },
      requestAdd: async (self, via) => {
        await this.network.call(
          via,
          'Forward',
          { method: 'Raft.AddServer', args: { id: self.id, address: self.addr } } satisfies ForwardedCall,
          {
            timeoutMs: 10_000,
          },
        );
      },
      onServerSeen: (p) => this.onServerSeen(p),
    });

    this.forwarder = new Forwarder({
      driver: this.driver,
      store: this.fsm.store,
      rng: this.rng,
      logger: log.child({ component: 'agent.rpc' }),
      rpcHoldTimeoutMs: c.rpcHoldTimeoutMs,
      leaderAddress: () => {
        const id = this.driver.leaderId();
        return id ? this.addressOf(id) : undefined;
      },
      connect: (addr) => this.network.connect(addr),
      context: (signal) => this.endpointContext(signal),
    });

    // Everything that handles RPC exists and Raft has its state back; only now may peers reach us.
    await this.driver.start();
    const rpcPort = await this.network.listen(c.bindAddr, c.ports.server);
    this.rpcAddr = `${advertiseAddress(c)}:${rpcPort}`;

    if (c.ports.http >= 0) {
      const app = createApp({ agent: this, logger: log.child({ component: 'agent.http' }) });
      this.http = await new Promise<ServerType>((resolve, reject) => {
        const srv = serve({ fetch: app.fetch, port: c.ports.http, hostname: c.clientAddr }, () =>
          resolve(srv),
        );
        srv.once('error', reject);
      });
      // Blocking queries may legitimately hold a request for up to 10 minutes.
      const s = this.http as unknown as { requestTimeout: number; headersTimeout: number };
      s.requestTimeout = 0;
      const addr = this.http.address();
      this.httpAddr = typeof addr === 'object' && addr ? `${c.clientAddr}:${addr.port}` : null;
    }
    this.peers.start();
    log.info({ http: this.httpAddr, rpc: this.rpcAddr }, 'started');
    return { http: this.httpAddr, rpc: this.rpcAddr };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.peers?.stop();
    this.tombstones?.stop();
    if (this.http) {
      const h = this.http as unknown as { closeAllConnections?: () => void };
      h.closeAllConnections?.();
      await new Promise<void>((r) => this.http?.close(() => r()));
    }
    await this.driver?.stop();
    await this.network?.close();
  }

  /** Proposes a command on this server (which must be the leader). */
  apply(cmd: FsmCommand): Promise<unknown> {
    return this.driver.propose(encodeCommand(cmd));
  }

  addressOf(id: string): string | undefined {
    return (
      this.peers?.get(id)?.addr ??
      this.driver.configuration().config.servers.find((s) => s.id === id)?.address
    );
  }

  leaderAddress(): string {
    const id = this.driver.leaderId();
    return id ? (this.addressOf(id) ?? '') : '';
  }

  peerAddresses(): string[] {
    return this.driver
      .configuration()
      .config.servers.filter((s) => s.voter)
      .map((s) => this.addressOf(s.id) ?? s.address);
  }

  private endpointContext(signal: AbortSignal): EndpointContext {
    return {
      store: this.fsm.store,
      apply: (cmd) => this.apply(cmd),
      raft: {
        configuration: () => {
          const c = this.driver.configuration();
          return { servers: c.config.servers, index: c.index };
        },
        leaderId: () => this.driver.leaderId(),
        addressOf: (id) => this.addressOf(id),
        nodeNameOf: (id) => (id === this.nodeId ? this.config.nodeName : this.peers.get(id)?.name),
        removeServer: (id) => this.driver.changeConfig({ type: 'removeServer', id, address: '' }),
        addServer: async (id, address) => {
          const current = this.driver.configuration().config.servers.find((s) => s.id === id);
          if (current && current.address === address && current.voter) return;
          await this.driver.changeConfig({ type: 'addVoter', id, address });
        },
      },
      peers: { join: (info) => this.peers.join(info) },
      signal,
    };
  }

  private handleRpc(method: string, args: unknown, signal: AbortSignal): Promise<unknown> {
    if (method === 'Forward') {
      const f = args as ForwardedCall;
      return this.forwarder.call(f.method, f.args, signal, true);
    }
    return this.forwarder.call(method, args, signal);
  }

  /** A server appeared or moved: the leader records its (new) address in the Raft configuration. */
  private onServerSeen(p: PeerInfo): void {
    if (!this.driver.isLeader()) return;
    const entry = this.driver.configuration().config.servers.find((s) => s.id === p.id);
    if (!entry || entry.address === p.addr) return;
    this.driver
      .changeConfig({ type: entry.voter ? 'addVoter' : 'addNonvoter', id: p.id, address: p.addr })
      .catch((err: unknown) => {
        this.logger.warn({ err, node: p.name }, 'raft: could not update a server address');
      });
  }

  /** The node ID: from config, else the one kept in the data dir, else a new one written there. */
  private async loadNodeId(): Promise<string> {
    const c = this.config;
    if (c.dev) return c.nodeId || randomUUID();
    const file = join(c.dataDir, 'node-id');
    let stored = '';
    try {
      stored = (await readFile(file, 'utf8')).trim();
    } catch {
      /* first start */
    }
    if (stored && c.nodeId && stored !== c.nodeId) {
      throw new ConsulError(ErrorCode.Config, `node_id ${c.nodeId} differs from ${stored} kept in ${file}`);
    }
    const id = stored || c.nodeId || randomUUID();
    if (!stored) {
      await writeFile(`${file}.tmp`, id, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    }
    return id;
  }
}
