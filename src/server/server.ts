// The server half of an agent in server mode: Raft (storage, driver, transport), the state store,
// RPC, server discovery from gossip, and the leader's membership work. The agent (agent/agent.ts)
// owns identity, gossip and HTTP and hands this what it needs.

import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { raftTimings, type AgentConfig } from '../config/config.js';
import { systemClock } from '../core/clock.js';
import { cryptoRng } from '../core/rng.js';
import { ConsulError, ErrorCode } from '../core/errors.js';
import { serverPeer } from '../agent/lan.js';
import type { Member, MemberEventType } from '../gossip/types.js';
import { RaftDriver } from '../raft/driver.js';
import { FileStorage } from '../raft/storage/file.js';
import { MemoryStorage } from '../raft/storage/memory.js';
import type { RaftStorage } from '../raft/storage/storage.js';
import type { PeerInfo } from '../rpc/codec.js';
import type { EndpointContext } from '../rpc/endpoints/index.js';
import { RpcNetwork } from '../rpc/network.js';
import { rpcTlsOf } from '../rpc/tls.js';
import { encodeCommand, type FsmCommand } from '../state/commands.js';
import { Fsm } from '../state/fsm.js';
import { Forwarder, type ForwardedCall } from './forward.js';
import { LeaderLoop } from './leader-loop.js';
import { staleNamesakes } from './reconcile.js';
import { autopilotFromAgent, type ServerObservation } from './autopilot.js';
import type { AutopilotConfig } from '../state/autopilot.js';
import { VERSION } from '../version.js';
import { LockDelays } from './lock-delay.js';
import { Peers } from './peers.js';
import { SessionTimers } from './session-timers.js';
import { sessionTtlMs } from '../state/session-validate.js';
import { TombstoneGc } from './tombstone-gc.js';
import { advertiseAddress } from './net.js';
import { MemberDirectory } from './wan-directory.js';
import type { CoordinatePool } from '../coordinate/pool.js';
import { CoordinateUpdates } from '../coordinate/updates.js';
import { sortNear } from '../coordinate/near.js';
import { StoreResolver } from '../acl/resolver.js';
import { ensureAclBuiltins, type AclContext } from '../rpc/endpoints/acl.js';
import { noHooks, observeRpc, timedStateMachine, type ServerHooks } from '../metrics/hooks.js';

/** How often the leader checks that every TTL session has a timer (the minimum TTL is 10 s). */
const SESSION_SWEEP_MS = 5000;

/** Consul's acl-bootstrap-reset: an operator writes the reset index there to bootstrap again. */
function bootstrapResetFile(dataDir: string, logger: Logger): NonNullable<AclContext['bootstrapReset']> {
  const path = join(dataDir, 'acl-bootstrap-reset');
  return {
    read: () => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return 0;
      }
      const n = Number(text.trim());
      if (!Number.isSafeInteger(n) || n <= 0) {
        logger.error({ path }, 'acl: the bootstrap reset file does not hold an index');
        return 0;
      }
      return n;
    },
    consume: () => {
      try {
        rmSync(path, { force: true });
      } catch (err) {
        logger.warn({ path, err: (err as Error).message }, 'acl: could not remove the bootstrap reset file');
      }
    },
  };
}

/** What the server needs from the LAN gossip pool (coordinates: GossipAgent has them). */
export interface LanMembership {
  members(): Member[];
  coordinate?: CoordinatePool['coordinate'];
  coordinateOf?: CoordinatePool['coordinateOf'];
}

export class ServerAgent {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly fsm: Fsm;
  driver!: RaftDriver;
  private network!: RpcNetwork;
  private peers!: Peers;
  forwarder!: Forwarder;
  private rpcAddr = '';
  private tombstones!: TombstoneGc;
  private leaderLoop!: LeaderLoop;
  private lan: LanMembership = { members: () => [] };
  private wanPool: LanMembership = { members: () => [] };
  /** Datacenters and their servers, from the WAN pool (only this DC while there is none). */
  readonly wan: MemberDirectory;
  /** The WAN pool's coordinates (/v1/coordinate/datacenters), once attachWanCoordinates() ran. */
  private wanCoords: CoordinatePool | null = null;
  /** LAN coordinate updates queued on the leader, written through Raft in batches. */
  private coordUpdates!: CoordinateUpdates;
  private userEvents: EndpointContext['userEvents'];
  private keyring: EndpointContext['keyring'];
  private readonly rng = cryptoRng();
  private stopping = false;
  /** Where Raft and RPC report to the agent's metrics (set by the agent before start). */
  hooks: ServerHooks = noHooks;
  /** Token secrets resolved against this server's state (Contract D). */
  readonly aclResolver: StoreResolver;
  private readonly aclContext: AclContext;
  private aclInitTimer: NodeJS.Timeout | null = null;
  /** Keys in a lock delay after their session was invalidated (every server records them). */
  readonly lockDelays = new LockDelays(systemClock);
  private sessionSweep: NodeJS.Timeout | null = null;
  /** TTL timers of every session, armed while this server leads. */
  readonly sessionTimers = new SessionTimers(systemClock, (id) => this.expireSession(id));

  constructor(config: AgentConfig, logger: Logger, nodeId: string) {
    this.config = config;
    this.logger = logger;
    this.nodeId = nodeId;
    this.fsm = new Fsm(config.datacenter);
    this.wan = new MemberDirectory({ local: config.datacenter, members: () => this.wanPool.members() });
    // Before Raft replays anything: every release the FSM applies starts its lock delay here.
    this.fsm.store.onLocksReleased = (r) => this.lockDelays.record(r.keys, r.lockDelayMs);
    this.aclResolver = new StoreResolver(this.fsm.store, config.acl);
    this.aclContext = {
      config: config.acl,
      resolver: this.aclResolver,
      newId: () => randomUUID(),
      now: () => new Date().toISOString(),
      ...(config.dev || config.dataDir === ''
        ? {}
        : { bootstrapReset: bootstrapResetFile(config.dataDir, logger) }),
    };
  }

  /** RPC port this server listens on (known after start). */
  rpcPort(): number {
    return Number(this.rpcAddr.split(':').pop());
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

  async start(): Promise<string> {
    const c = this.config;
    const log = this.logger;
    log.info({ node: c.nodeName, id: this.nodeId, dc: c.datacenter }, 'starting server');

    const storage: RaftStorage = c.dev ? new MemoryStorage() : new FileStorage(join(c.dataDir, 'raft'));
    const tls = rpcTlsOf(c);
    this.network = new RpcNetwork({
      self: () => this.self(),
      tls,
      logger: log.child({ component: 'agent.rpc' }),
      maxConnsPerClient: c.limits.rpcMaxConnsPerClient,
      handshakeTimeoutMs: c.limits.rpcHandshakeTimeoutMs,
      onPeerClosed: (peer) => this.driver.peerDisconnected(peer.id),
      handlers: {
        request: (method, args, signal) => this.handleRpc(method, args, signal),
        raft: (m, conn) => {
          if (conn.peer) this.peers.observe(conn.peer);
          this.driver.step(m);
        },
        hello: (peer) => {
          // A server's hello carries its current RPC address; gossip may not have shown it yet.
          if (peer.server) this.peers?.observe(peer);
        },
      },
    });
    this.driver = new RaftDriver({
      id: this.nodeId,
      storage,
      fsm: timedStateMachine(this.fsm, () => this.hooks),
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
    // With verify_server_hostname a member that gossips as a server is only let into Raft once
    // its certificate proved it one; an unreachable one is added as before.
    const proveServer = async (address: string): Promise<void> => {
      if (!tls?.m.verifyServerHostname) return;
      await this.network.connect(address).catch((err: unknown) => {
        if (err instanceof ConsulError && err.code === ErrorCode.PermissionDenied) throw err;
      });
    };
    this.leaderLoop = new LeaderLoop({
      isLeader: () => this.driver.isLeader(),
      members: () => this.lan.members(),
      store: this.fsm.store,
      apply: (cmd) => this.apply(cmd),
      raftServers: () => this.driver.configuration().config.servers,
      raftHasState: () => this.driver.hasState(),
      addVoter: async (id, address) => {
        await proveServer(address);
        await this.driver.changeConfig({ type: 'addVoter', id, address });
      },
      addNonvoter: async (id, address) => {
        // A non-voter receives the whole log: it is checked exactly as a voter is.
        await proveServer(address);
        await this.driver.changeConfig({ type: 'addNonvoter', id, address });
      },
      observeServers: () => this.observeServers(),
      now: () => Date.now(),
      removeServer: (id) => this.driver.changeConfig({ type: 'removeServer', id, address: '' }),
      self: { id: this.nodeId, name: c.nodeName },
      dc: c.datacenter,
      autopilot: () => this.autopilotConfig(),
      seedAutopilot: async () => {
        if (this.fsm.store.autopilotConfig()) return;
        await this.apply({ type: 'autopilotSetConfig', config: autopilotFromAgent(c.autopilot), cas: 0 });
      },
      autopilotIntervalMs: 1000,
      contactGraceMs: raftTimings(c).heartbeatIntervalMs,
      intervalMs: c.reconcileIntervalMs,
      logger: log.child({ component: 'agent.leader' }),
    });
    this.coordUpdates = new CoordinateUpdates({
      config: c.coordinates.update,
      apply: (cmd) => this.apply(cmd),
      logger: log.child({ component: 'agent.server.coordinate' }),
    });
    let wasLeader = false;
    this.driver.on('leader', (s) => {
      this.hooks.raftRole(s.role);
      if (s.role === 'leader') this.tombstones.start();
      else this.tombstones.stop();
      if ((s.role === 'leader') !== wasLeader) {
        wasLeader = s.role === 'leader';
        this.leaderLoop.leadership(wasLeader);
        this.sessionLeadership(wasLeader);
        this.aclLeadership(wasLeader);
        if (wasLeader) this.coordUpdates.start();
        else this.coordUpdates.stop();
      }
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
      logger: log.child({ component: 'agent.server' }),
      bootstrap: c.bootstrap,
      bootstrapExpect: c.bootstrapExpect,
      raftHasState: () => this.driver.hasState(),
      bootstrapRaft: (servers) => {
        this.driver.bootstrap({ servers: servers.map((s) => ({ id: s.id, address: s.addr, voter: true })) });
      },
      hasRaftState: async (addr) => {
        const r = (await this.network.call(addr, 'Server.RaftState', {}, { timeoutMs: 5000 })) as {
          bootstrapped: boolean;
        };
        return r.bootstrapped;
      },
      onServerSeen: (p) => this.onServerSeen(p),
    });

    this.forwarder = new Forwarder({
      datacenter: c.datacenter,
      // Other datacenters' servers, from the WAN pool (only this one while there is none).
      wan: this.wan,
      driver: this.driver,
      store: this.fsm.store,
      rng: this.rng,
      logger: log.child({ component: 'agent.rpc' }),
      rpcHoldTimeoutMs: c.rpcHoldTimeoutMs,
      leaderAddress: () => {
        const id = this.driver.leaderId();
        return id ? this.addressOf(id) : undefined;
      },
      connect: (addr, dc) => this.network.connect(addr, dc),
      context: (signal) => this.endpointContext(signal),
    });

    // Everything that handles RPC exists and Raft has its state back; only now may peers reach us.
    await this.driver.start();
    // From now on (not for the snapshot Raft started from): a snapshot restored on the leader gets
    // TTL timers for its sessions at full length, as on taking office; once the apply that restored
    // it is over, the ACL built-ins it may lack are made again and the catalog is brought back in
    // line with this cluster's gossip pool (its members, not the snapshot's).
    this.fsm.store.onRestored = () => {
      if (!this.driver.isLeader() || this.stopping) return;
      this.sessionTimers.resetAll(this.ttlSessions());
      setImmediate(() => {
        this.aclLeadership(this.driver.isLeader());
        void this.reconcileAfterRestore();
      });
    };
    const rpcPort = await this.network.listen(c.bindAddr, c.ports.server);
    this.rpcAddr = `${advertiseAddress(c)}:${rpcPort}`;

    this.peers.start();
    return this.rpcAddr;
  }

  /** How Internal.KeyringOperation reaches this agent's gossip pools. */
  attachKeyring(keyring: NonNullable<EndpointContext['keyring']>): void {
    this.keyring = keyring;
  }

  /** How Internal.EventFire fires a user event here: the agent's own firing, into its LAN pool. */
  attachUserEvents(events: NonNullable<EndpointContext['userEvents']>): void {
    this.userEvents = events;
  }

  /** Connects server discovery and the leader's reconcile to the LAN pool. */
  attachLan(lan: LanMembership): void {
    this.lan = lan;
    for (const m of lan.members()) this.memberEvent('join', m);
  }

  /** Connects the directory of datacenters to the WAN pool. */
  attachWan(wan: LanMembership): void {
    this.wanPool = wan;
    this.wan.changed();
  }

  /** A WAN member event: the directory's view changed. */
  wanMemberEvent(): void {
    this.wan.changed();
  }

  /** The WAN pool (every datacenter's servers) for /v1/coordinate/datacenters; GossipAgent fits. */
  attachWanCoordinates(pool: CoordinatePool | null): void {
    this.wanCoords = pool;
  }

  /** A gossip member event: servers feed discovery; every change goes to the leader's reconcile. */
  memberEvent(event: MemberEventType, m: Member): void {
    if (m.status === 'alive' || m.status === 'suspect') {
      const p = serverPeer(m, this.config.datacenter);
      if (p) this.peers.observe(p);
    }
    this.leaderLoop.memberChanged(event, m);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.leaderLoop?.stop();
    this.tombstones?.stop();
    this.coordUpdates?.stop();
    this.sessionLeadership(false);
    this.aclLeadership(false);
    await this.driver?.stop();
    await this.network?.close();
  }

  /** Proposes a command on this server (which must be the leader). */
  apply(cmd: FsmCommand): Promise<unknown> {
    const hooks = this.hooks;
    const t0 = performance.now();
    hooks.raftApply();
    return this.driver.propose(encodeCommand(cmd)).then((r) => {
      hooks.raftCommit(performance.now() - t0);
      return r;
    });
  }

  /**
   * A new leader arms every TTL session at its full length; a former leader forgets its timers.
   * While leading, a sweep arms any TTL session that still has no timer: one whose create was
   * proposed by the previous leader and applied here only after this server took office.
   */
  private sessionLeadership(leader: boolean): void {
    if (this.sessionSweep) clearInterval(this.sessionSweep);
    this.sessionSweep = null;
    if (!leader) {
      this.sessionTimers.clearAll();
      return;
    }
    this.sessionTimers.resetAll(this.ttlSessions());
    this.sessionSweep = setInterval(() => this.sessionTimers.sync(this.ttlSessions()), SESSION_SWEEP_MS);
    this.sessionSweep.unref();
  }

  /**
   * Consul's initializeACLs: a new leader with ACLs on makes the built-ins (global-management,
   * anonymous, initial_management), retrying every second while it leads until they exist.
   */
  private aclLeadership(leader: boolean): void {
    if (this.aclInitTimer) clearTimeout(this.aclInitTimer);
    this.aclInitTimer = null;
    if (!leader || !this.config.acl.enabled) return;
    const attempt = (): void => {
      this.aclInitTimer = null;
      if (!this.driver.isLeader() || this.stopping) return;
      ensureAclBuiltins(this.fsm.store, (cmd) => this.apply(cmd), this.aclContext)
        .then((done) => {
          for (const what of done) this.logger.info(`acl: ${what}`);
        })
        .catch((err: unknown) => {
          this.logger.warn({ err: (err as Error).message }, 'acl: could not initialize; retrying');
          if (this.driver.isLeader() && !this.stopping) {
            this.aclInitTimer = setTimeout(attempt, 1000);
            this.aclInitTimer.unref();
          }
        });
    };
    attempt();
  }

  private ttlSessions(): { id: string; ttlMs: number }[] {
    const out: { id: string; ttlMs: number }[] = [];
    for (const s of this.fsm.store.sessionList().value) {
      if (s.TTL === '') continue;
      try {
        out.push({ id: s.ID, ttlMs: sessionTtlMs(s.TTL) });
      } catch {
        // Checked at create; a TTL that no longer parses has no timer.
      }
    }
    return out;
  }

  /** After a restore: the snapshot's namesakes of this pool's members go, then a full reconcile. */
  private async reconcileAfterRestore(): Promise<void> {
    const members = this.lan
      .members()
      .map((m) => ({ name: m.name, addr: m.addr, status: m.status, tags: m.tags }));
    for (const node of staleNamesakes(this.fsm.store, members, this.config.datacenter)) {
      if (!this.driver.isLeader() || this.stopping) return;
      this.logger.info(
        { node },
        "deregistering the restored snapshot's node named after a member of this pool",
      );
      await this.apply({ type: 'deregister', req: { Node: node } }).catch((err: unknown) => {
        this.logger.warn({ node, err: (err as Error).message }, 'could not deregister a stale node');
      });
    }
    this.leaderLoop.requestFull();
  }

  /** A TTL ran out: the leader destroys the session through Raft, retrying while it leads. */
  private expireSession(id: string): void {
    if (!this.driver?.isLeader() || this.stopping || !this.fsm.store.session(id)) return;
    this.logger.info({ session: id }, 'session TTL expired; invalidating');
    this.apply({ type: 'sessionDestroy', id }).catch((err: unknown) => {
      this.logger.warn({ session: id, err: (err as Error).message }, 'session invalidation failed; retrying');
      if (this.driver.isLeader() && !this.stopping) this.sessionTimers.arm(id, 1000);
    });
  }

  /** Autopilot's configuration in force: Raft's, or this agent's block until one is stored. */
  autopilotConfig(): AutopilotConfig {
    return this.fsm.store.autopilotConfig() ?? autopilotFromAgent(this.config.autopilot);
  }

  /** The leader's view of every server in the Raft configuration (autopilot's input). */
  private observeServers(): { servers: ServerObservation[]; term: number; lastIndex: number } {
    const st = this.driver.status();
    const members = new Map<string, Member>();
    for (const m of this.lan.members()) {
      const p = serverPeer(m, this.config.datacenter);
      if (p) members.set(p.id, m);
    }
    const servers = st.config.servers.map((s): ServerObservation => {
      const self = s.id === this.nodeId;
      const m = members.get(s.id);
      const pr = st.progress[s.id];
      const contact = self ? 0 : (pr?.lastContactMs ?? -1);
      const name = m?.name ?? (self ? this.config.nodeName : (this.peers.get(s.id)?.name ?? ''));
      return {
        id: s.id,
        name,
        address: s.address,
        voter: s.voter,
        leader: s.id === st.leader,
        // Serf has no "suspect": a suspected member is still alive to it.
        serfStatus: m ? (m.status === 'suspect' ? 'alive' : m.status) : self ? 'alive' : 'none',
        version: ((m?.tags['build'] ?? (self ? VERSION : '')).split(':')[0] as string) || '',
        lastContactMs: contact,
        // A follower that acknowledged this leader is in its term.
        lastTerm: self || contact >= 0 ? st.term : 0,
        lastIndex: self ? st.lastIndex : (pr?.match ?? 0),
        meta: { ...(this.fsm.store.nodeInfo(name).value?.Node.Meta ?? {}) },
      };
    });
    return { servers, term: st.term, lastIndex: st.lastIndex };
  }

  /** The leader's health view; NotLeader elsewhere (the endpoints run on the leader). */
  autopilotHealth(): { servers: ReturnType<LeaderLoop['health']>; leaderId: string } {
    if (!this.driver.isLeader()) throw new ConsulError(ErrorCode.NotLeader, 'not the leader');
    return { servers: this.leaderLoop.health(), leaderId: this.nodeId };
  }

  /**
   * Hands leadership to `id` (or the most up-to-date voter) and resolves once this server has
   * stepped down, with the new leader's ID; rejects when that did not happen within a few
   * election timeouts.
   */
  transferLeadership(id: string | undefined): Promise<string> {
    if (!this.driver.isLeader())
      return Promise.reject(new ConsulError(ErrorCode.NotLeader, 'not the leader'));
    if (id !== undefined && !this.driver.configuration().config.servers.some((s) => s.id === id))
      return Promise.reject(
        new ConsulError(ErrorCode.BadRequest, `cannot find peer ${id} in the Raft configuration`),
      );
    if (id === this.nodeId) return Promise.resolve(id);
    this.driver.transferLeadership(id);
    const timeoutMs = 4 * raftTimings(this.config).electionTimeoutMs;
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        const leader = this.driver.leaderId();
        if (!this.driver.isLeader() && leader !== '' && leader !== this.nodeId) {
          clearInterval(poll);
          resolve(leader);
        } else if (Date.now() - started > timeoutMs) {
          clearInterval(poll);
          reject(new ConsulError(ErrorCode.Timeout, 'leadership transfer timed out'));
        }
      }, 20);
      poll.unref();
    });
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
        hasState: () => this.driver.hasState(),
        leaderAddress: () => this.leaderAddress(),
        peerAddresses: () => this.peerAddresses(),
        term: () => this.driver.term(),
        transferLeadership: (id) => this.transferLeadership(id),
      },
      autopilot: {
        config: () => this.autopilotConfig(),
        health: () => this.autopilotHealth(),
      },
      sessions: {
        lockDelayed: (key) => this.lockDelays.delayed(key),
        resetTimer: (id, ttlMs) => this.sessionTimers.reset(id, ttlMs),
        clearTimer: (id) => this.sessionTimers.clear(id),
        newId: () => randomUUID(),
      },
      datacenters: this.forwarder.datacenters,
      ...(this.userEvents ? { userEvents: this.userEvents } : {}),
      ...(this.keyring ? { keyring: this.keyring } : {}),
      acl: this.aclContext,
      signal,
      wan: this.wan,
      // Prepared queries' Near sorts by the same LAN coordinates as ?near (null: no coordinate).
      preparedQueryNear: (node, rows) =>
        this.fsm.store.coordinateOf(node) ? sortNear(this.fsm.store, node, rows, (r) => r.Node.Node) : null,
      coordinates: {
        enqueue: (e) => this.coordUpdates.enqueue(e),
        lan: () => {
          const lan = this.lan;
          if (!lan.coordinate || !lan.coordinateOf) return null;
          return {
            members: () => lan.members(),
            coordinate: lan.coordinate.bind(lan),
            coordinateOf: lan.coordinateOf.bind(lan),
          };
        },
        wan: () => this.wanCoords,
      },
    };
  }

  private handleRpc(method: string, args: unknown, signal: AbortSignal): Promise<unknown> {
    if (method === 'Forward') {
      const f = args as ForwardedCall;
      return observeRpc(this.hooks, f.method, f.args, () =>
        this.forwarder.call(f.method, f.args, signal, true),
      );
    }
    return observeRpc(this.hooks, method, args, () => this.forwarder.call(method, args, signal));
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
}
