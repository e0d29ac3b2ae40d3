// The state store: KV, catalog, health, session and prepared-query tables in memory, with the indexes that blocking
// queries and X-Consul-Index are built on (the rules are at the top of kv.ts, catalog.ts and
// sessions.ts). A session lives and dies with its node and checks: every catalog write ends by
// invalidating the sessions it broke, in the same Raft entry. Only the FSM writes, one Raft index
// per write; everything else reads. Reads take a WatchSet and record the topics they depend on;
// each write notifies exactly the topics it touched, once it is complete. Nothing here reads a
// clock or draws a random number: replicas that apply the same commands hold the same state and
// dump the same bytes.

import { badRequest, ConsulError, ErrorCode } from '../core/errors.js';
import { Catalog, type CatalogDump } from './catalog.js';
import type { NodeDumpEntry, ServiceSummary } from './ui-summary.js';
import { CoordinateTable, type CoordinateEntry, type CoordinatesDump } from './coordinates.js';
import { normalizeRegister } from './catalog-validate.js';
import { emptyTables, TABLES, type StoreContext, type Table, type TableIndexes } from './context.js';
import { KvTable, type KvDump } from './kv.js';
import { AutopilotTable, type AutopilotConfig, type StoredAutopilotConfig } from './autopilot.js';
import {
  AclTable,
  type AclDump,
  type AclPolicy,
  type AclPolicyInput,
  type AclToken,
  type AclTokenInput,
  type AclTokenView,
} from './acl.js';
import {
  PreparedQueryTable,
  decodeQuery,
  isUuid,
  type PreparedQuery,
  type PreparedQueryInput,
} from './prepared-queries.js';
import { compileTemplate } from './prepared-query-template.js';
import { MAX_LOCK_DELAY_NS, SessionTable, type Session, type SessionInput } from './sessions.js';
import { dispatchTxn, isReadOnlyTxn, type TxnOp, type TxnResult } from './txn.js';
import type {
  CheckServiceNode,
  CheckStateFilter,
  DeregisterRequest,
  HealthCheck,
  Indexed,
  KVEntry,
  Node,
  NodeServiceList,
  NodeServices,
  RegisterRequest,
  ServiceNode,
} from './types.js';
import { topic, Watchers, type WatchSet } from './watch.js';

export type { Table } from './context.js';

/** Every table as plain data: what a snapshot holds. */
export interface StoreData {
  version: 1;
  lastIndex: number;
  tables: TableIndexes;
  kv: KvDump;
  catalog: CatalogDump;
  /** Absent in snapshots taken before sessions existed (they load as none). */
  sessions?: Session[];
  /** Absent in snapshots taken before coordinates existed (they load as none). */
  coordinates?: CoordinatesDump;
  /** Absent in snapshots taken before prepared queries existed (they load as none). */
  preparedQueries?: PreparedQuery[];
  /** Absent in snapshots taken before ACLs existed (they load as none). */
  acl?: AclDump;
  /** StateStore.indexOffset (absent: 0). */
  indexOffset?: number;
  /** Absent in snapshots taken before autopilot's configuration was kept in Raft (none then). */
  autopilot?: StoredAutopilotConfig | null;
}

/**
 * Keys an invalidated session held, released or deleted by the write at `index`. The store only
 * reports them: the lock delay that follows is kept by the server with its own clock, outside the
 * FSM, so replicas stay deterministic.
 */
export interface LockRelease {
  session: string;
  keys: string[];
  /** The session's LockDelay, capped at Consul's 60 s, in milliseconds. */
  lockDelayMs: number;
  index: number;
}

export class StateStore {
  readonly datacenter: string;
  /** The last Raft index applied (commands, no-ops and restores alike). */
  lastIndex = 0;
  readonly watchers = new Watchers();
  /** Bumped by every restore, so a blocking query can tell a restore from a write. */
  restoreGeneration = 0;
  /**
   * How far this store's indexes run ahead of Raft's: a restored snapshot may carry indexes above
   * the log's, and indexes must never move backwards (hashicorp/raft jumps its log index past the
   * snapshot's instead). The FSM adds it to every Raft index it applies.
   */
  indexOffset = 0;
  /** Hears of every restore once it is complete (the leader re-arms its timers, reconciles). */
  onRestored: (() => void) | null = null;

  private readonly ctx: StoreContext;
  private readonly kv: KvTable;
  private readonly catalog: Catalog;
  private readonly sessions: SessionTable;
  private readonly coordinates: CoordinateTable;
  private readonly queries: PreparedQueryTable;
  private readonly acl: AclTable;
  private readonly autopilot = new AutopilotTable();
  private writing = false;
  /** Hears of every lock an invalidated session gave up (the server records the lock delay). */
  onLocksReleased: ((r: LockRelease) => void) | null = null;

  constructor(datacenter: string) {
    this.datacenter = datacenter;
    this.ctx = { tables: emptyTables(), touched: new Set(), watchers: this.watchers };
    this.kv = new KvTable(this.ctx);
    this.catalog = new Catalog(this.ctx, datacenter);
    this.sessions = new SessionTable(this.ctx);
    this.coordinates = new CoordinateTable(this.ctx);
    this.queries = new PreparedQueryTable(this.ctx);
    this.acl = new AclTable(this.ctx);
  }

  // ================================================================ writes (FSM only)

  /**
   * Runs one write at Raft index `index`. Watchers hear of the topics it touched only once it is
   * complete (even if it threw half-way: what changed, changed on every replica alike).
   */
  write<T>(index: number, fn: () => T): T {
    if (this.writing) return fn();
    this.writing = true;
    this.ctx.touched = new Set();
    try {
      return fn();
    } finally {
      this.writing = false;
      if (index > this.lastIndex) this.lastIndex = index;
      const touched = this.ctx.touched;
      this.ctx.touched = new Set();
      if (touched.size > 0) this.watchers.notify(touched);
    }
  }

  /** Consul's AutopilotSetConfig: `cas` null writes; a number writes only over that ModifyIndex. */
  autopilotSet(index: number, config: AutopilotConfig, cas: number | null): boolean {
    return this.write(index, () => this.autopilot.set(index, config, cas));
  }

  /** The datacenter's autopilot configuration, or null before a leader wrote the first one. */
  autopilotConfig(): StoredAutopilotConfig | null {
    return this.autopilot.get();
  }

  kvSet(index: number, key: string, value: Uint8Array | null, flags: number): KVEntry {
    return this.write(index, () => this.kv.set(index, key, value, flags));
  }

  /** Index 0: only if the key is absent; otherwise only if its ModifyIndex is `cas`. */
  kvCas(index: number, key: string, value: Uint8Array | null, flags: number, cas: number): boolean {
    return this.write(index, () => this.kv.cas(index, key, value, flags, cas) !== null);
  }

  /** True even when the key did not exist (Consul's DELETE always answers true). */
  kvDelete(index: number, key: string): boolean {
    return this.write(index, () => (this.kv.delete(index, key), true));
  }

  /** False only when the key exists with another ModifyIndex; a missing key counts as deleted. */
  kvDeleteCas(index: number, key: string, cas: number): boolean {
    return this.write(index, () => this.kv.deleteCas(index, key, cas));
  }

  /** Deletes every key under `prefix`; returns how many. */
  kvDeleteTree(index: number, prefix: string): number {
    return this.write(index, () => this.kv.deleteTree(index, prefix));
  }

  /** Drops the tombstones at or below `upTo` (no index moves back: see the reaped floor). */
  reapTombstones(upTo: number, index = this.lastIndex): number {
    return this.write(index, () => this.kv.reap(upTo));
  }

  /** A catalog registration (defaults filled here too, so any well-formed request applies alike). */
  register(index: number, req: RegisterRequest): void {
    const normal = normalizeRegister(req);
    this.write(index, () => {
      this.catalog.register(index, normal);
      this.invalidateSessionsOfTouchedNodes(index);
      this.dropCoordinatesOfGoneNodes(index);
    });
  }

  deregister(index: number, req: DeregisterRequest): void {
    if (typeof req?.Node !== 'string' || req.Node === '') throw badRequest('Must provide node');
    for (const f of ['ServiceID', 'CheckID'] as const) {
      const v: unknown = req[f];
      if (v !== undefined && v !== null && typeof v !== 'string') throw badRequest(`${f} must be a string`);
    }
    this.write(index, () => {
      this.catalog.deregister(index, req);
      this.invalidateSessionsOfTouchedNodes(index);
      this.dropCoordinatesOfGoneNodes(index);
    });
  }

  /**
   * Consul's KVS lock (?acquire): false when another session holds the key; a missing or unknown
   * session is a 400 (Consul: "missing session", "invalid session").
   */
  kvLock(index: number, key: string, value: Uint8Array | null, flags: number, session: string): boolean {
    return this.write(index, () => {
      if (session === '') throw badRequest('missing session');
      if (!this.sessions.get(session)) throw badRequest(`invalid session ${JSON.stringify(session)}`);
      return this.kv.lock(index, key, value, flags, session) !== null;
    });
  }

  /** Consul's KVS unlock (?release): false unless `session` holds the key. */
  kvUnlock(index: number, key: string, value: Uint8Array | null, flags: number, session: string): boolean {
    return this.write(index, () => {
      if (session === '') throw badRequest('missing session');
      return this.kv.unlock(index, key, value, flags, session) !== null;
    });
  }

  /**
   * Consul's sessionCreateTxn: the node must exist and every check the session names must exist on
   * it and not be critical. The ID comes with the command (the proposer drew it), so every replica
   * creates the same session. Returns the ID.
   */
  sessionCreate(index: number, s: SessionInput): string {
    return this.write(index, () => {
      if (this.sessions.get(s.ID)) throw badRequest(`Session ID '${s.ID}' is already in use`);
      this.checkSessionBinding(s);
      this.sessions.insert(index, s);
      return s.ID;
    });
  }

  /** Destroys a session (idempotent: an unknown ID changes nothing), releasing its locks. */
  sessionDestroy(index: number, id: string): boolean {
    return this.write(index, () => (this.destroySession(index, id), true));
  }

  /** Throws Consul's error when `s` could not be created now (what create checks, without writing). */
  checkSessionBinding(s: Pick<SessionInput, 'Node' | 'NodeChecks' | 'ServiceChecks'>): void {
    if (this.catalog.nodeInfo(s.Node).value === null) throw badRequest('Missing node registration');
    const checks = this.catalog.nodeChecks(s.Node).value;
    for (const id of [...s.NodeChecks, ...(s.ServiceChecks ?? []).map((c) => c.ID)]) {
      const c = checks.find((x) => x.CheckID.toLowerCase() === id.toLowerCase());
      if (!c) throw badRequest(`Missing check '${id}' registration`);
      if (c.Status === 'critical') throw badRequest(`Check '${id}' is in critical state`);
    }
  }

  /**
   * After a catalog write: every session on a node the write touched is invalidated if its node is
   * gone or a check it names is gone or critical (Consul does this where the check changes; looking
   * at the touched nodes' sessions covers node, service and check deregistration alike).
   */
  private invalidateSessionsOfTouchedNodes(index: number): void {
    const prefix = topic.node('');
    const nodes = [...this.ctx.touched]
      .filter((t) => t.startsWith(prefix))
      .map((t) => t.slice(prefix.length));
    for (const node of nodes) {
      for (const s of this.sessions.onNode(node)) {
        if (!this.sessionStillBound(s)) this.destroySession(index, s.ID);
      }
    }
  }

  /**
   * Consul's deleteNodeTxn deletes the node's coordinates with it: after a catalog write, every
   * touched node that no longer exists (deregistered, or renamed away by a new node ID) loses them.
   */
  private dropCoordinatesOfGoneNodes(index: number): void {
    const prefix = topic.node('');
    for (const t of [...this.ctx.touched]) {
      if (!t.startsWith(prefix)) continue;
      const node = t.slice(prefix.length);
      if (this.coordinates.has(node) && this.catalog.nodeInfo(node).value === null) {
        this.coordinates.deleteNode(index, node);
      }
    }
  }

  /**
   * Consul's CoordinateBatchUpdate: each node's coordinate is stored, except for nodes the catalog
   * does not know (a node deregistered while its update waited in the leader's batch must not come
   * back as a coordinate without a node).
   */
  coordinateBatchUpdate(index: number, updates: CoordinateEntry[]): void {
    this.write(index, () => {
      const known = updates.filter((u) => this.catalog.nodeInfo(u.Node).value !== null);
      this.coordinates.upsert(index, known);
    });
  }

  private sessionStillBound(s: Session): boolean {
    try {
      this.checkSessionBinding(s);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Consul's deleteSessionTxn: the session goes; its keys are released or deleted per Behavior, and
   * the prepared queries bound to it are deleted.
   */
  private destroySession(index: number, id: string): void {
    const s = this.sessions.remove(index, id);
    if (!s) return;
    for (const q of this.queries.ofSession(id)) this.queries.remove(index, q);
    const held = this.kv.heldBy(id);
    for (const e of held) {
      if (s.Behavior === 'delete') this.kv.delete(index, e.Key);
      else this.kv.set(index, e.Key, e.Value, e.Flags, { session: '' });
    }
    const listener = this.onLocksReleased;
    if (held.length === 0 || s.LockDelay <= 0 || !listener) return;
    try {
      listener({
        session: id,
        keys: held.map((e) => e.Key),
        lockDelayMs: Math.min(s.LockDelay, MAX_LOCK_DELAY_NS) / 1e6,
        index,
      });
    } catch {
      // The listener is the server's bookkeeping; the write itself stands on every replica.
    }
  }

  /**
   * Consul's preparedQuerySetTxn: creates or replaces the query with this ID. Its name must not be
   * another query's name (case-insensitive) nor another query's ID, and its session must exist.
   * Only what depends on state is checked here (the policy is the endpoint's, checkQueryPolicy),
   * so an old log entry replays the same way whatever the policy became.
   */
  preparedQuerySet(index: number, input: PreparedQueryInput): void {
    const q = decodeQuery(input);
    if (q.ID === '') throw badRequest('Missing query ID');
    this.write(index, () => {
      if (q.Name !== '') {
        const other = this.queries.byNameExact(q.Name);
        if (other && other.ID !== q.ID) throw badRequest(`name '${q.Name}' aliases an existing query name`);
      } else if (q.Template.Type !== '') {
        const other = this.queries.templateNamed('');
        if (other && other.ID !== q.ID)
          throw badRequest('a query template with an empty name already exists');
      }
      if (isUuid(q.Name) && this.queries.get(q.Name)) {
        throw badRequest(`name '${q.Name}' aliases an existing query ID`);
      }
      if (q.Session !== '' && !this.sessions.get(q.Session)) {
        throw badRequest(`invalid session ${JSON.stringify(q.Session)}`);
      }
      if (q.Template.Type !== '') {
        try {
          compileTemplate(q);
        } catch (err) {
          throw badRequest(`failed compiling template: ${(err as Error).message}`);
        }
      }
      this.queries.set(index, q);
    });
  }

  /** Deletes a query by ID (idempotent, as Consul's preparedQueryDeleteTxn). */
  preparedQueryDelete(index: number, id: string): boolean {
    return this.write(index, () => (this.queries.remove(index, id), true));
  }

  // ---------------------------------------------------------------- ACL writes

  /** The one bootstrap (or a reset naming the last bootstrap's index); throws when not allowed. */
  aclBootstrap(index: number, token: AclTokenInput, resetIndex: number): AclToken {
    return this.write(index, () => this.acl.bootstrap(index, token, resetIndex));
  }

  aclTokenSet(index: number, token: AclTokenInput): AclToken {
    return this.write(index, () => this.acl.setToken(index, token));
  }

  /** Idempotent: true whether or not the token existed. */
  aclTokenDelete(index: number, accessorId: string): boolean {
    return this.write(index, () => (this.acl.deleteToken(index, accessorId), true));
  }

  aclPolicySet(index: number, policy: AclPolicyInput): AclPolicy {
    return this.write(index, () => this.acl.setPolicy(index, policy));
  }

  aclPolicyDelete(index: number, id: string): boolean {
    return this.write(index, () => (this.acl.deletePolicy(index, id), true));
  }

  /** An atomic KV transaction: every op applies, or none does and no watcher hears a thing. */
  txn(index: number, ops: TxnOp[]): TxnResult {
    return this.write(index, () => {
      const sp = this.kv.savepoint();
      const before = this.ctx.touched;
      this.ctx.touched = new Set(before);
      const r = dispatchTxn(this.kv, (id) => this.sessions.get(id) !== undefined, index, ops);
      if (r.Errors) {
        this.kv.rollback(sp);
        this.ctx.touched = before;
      }
      return r;
    });
  }

  // ================================================================ reads

  kvGet(key: string, ws?: WatchSet): Indexed<KVEntry | null> {
    ws?.add(topic.key(key));
    return this.kv.get(key);
  }

  kvList(prefix: string, ws?: WatchSet): Indexed<KVEntry[]> {
    ws?.add(topic.prefix(prefix));
    return this.kv.list(prefix);
  }

  kvKeys(prefix: string, separator: string, ws?: WatchSet): Indexed<string[]> {
    ws?.add(topic.prefix(prefix));
    return this.kv.keys(prefix, separator);
  }

  /** A read-only transaction (get, get-tree, check-*) against the current state, without Raft. */
  txnRead(ops: TxnOp[]): TxnResult {
    if (!isReadOnlyTxn(ops)) throw badRequest('transaction is not read-only');
    return dispatchTxn(this.kv, (id) => this.sessions.get(id) !== undefined, 0, ops);
  }

  sessionInfo(id: string, ws?: WatchSet): Indexed<Session | null> {
    return this.sessions.info(id, ws);
  }

  sessionList(ws?: WatchSet): Indexed<Session[]> {
    return this.sessions.list(ws);
  }

  nodeSessions(node: string, ws?: WatchSet): Indexed<Session[]> {
    return this.sessions.nodeSessions(node, ws);
  }

  preparedQueryGet(id: string, ws?: WatchSet): Indexed<PreparedQuery | null> {
    return this.queries.info(id, ws);
  }

  preparedQueryList(ws?: WatchSet): Indexed<PreparedQuery[]> {
    return this.queries.list(ws);
  }

  /** By ID when the text looks like one, else by exact (case-insensitive) name. */
  preparedQueryResolve(idOrName: string, ws?: WatchSet): Indexed<PreparedQuery | null> {
    return this.queries.resolve(idOrName, ws);
  }

  // ---------------------------------------------------------------- ACL reads

  aclCanBootstrap(): { allowed: boolean; resetIndex: number } {
    return this.acl.canBootstrap();
  }

  /** A token as stored, without watching (endpoints' checks and token resolution). */
  aclToken(accessorId: string): AclToken | undefined {
    return this.acl.token(accessorId);
  }

  aclTokenBySecret(secret: string): AclToken | undefined {
    return this.acl.tokenBySecret(secret);
  }

  aclPolicy(id: string): AclPolicy | undefined {
    return this.acl.policy(id);
  }

  aclPolicyByName(name: string): AclPolicy | undefined {
    return this.acl.policyByName(name);
  }

  aclTokenView(t: AclToken): AclTokenView {
    return this.acl.view(t);
  }

  aclTokenGet(accessorId: string, ws?: WatchSet): Indexed<AclTokenView | null> {
    return this.acl.tokenInfo(accessorId, ws);
  }

  aclTokenGetBySecret(secret: string, ws?: WatchSet): Indexed<AclTokenView | null> {
    return this.acl.tokenInfoBySecret(secret, ws);
  }

  aclTokenList(policy: string, ws?: WatchSet): Indexed<AclTokenView[]> {
    return this.acl.tokenList(policy, ws);
  }

  aclPolicyGet(id: string, ws?: WatchSet): Indexed<AclPolicy | null> {
    return this.acl.policyInfo(id, ws);
  }

  aclPolicyGetByName(name: string, ws?: WatchSet): Indexed<AclPolicy | null> {
    return this.acl.policyInfoByName(name, ws);
  }

  aclPolicyList(ws?: WatchSet): Indexed<AclPolicy[]> {
    return this.acl.policyList(ws);
  }

  /**
   * Moves whenever a token or policy changes: what resolved-token caches check (with
   * restoreGeneration, since a restore may bring back an older index).
   */
  aclIndex(): number {
    return Math.max(this.ctx.tables.aclTokens, this.ctx.tables.aclPolicies);
  }

  /** A session as it is now, without watching (the leader's timers and endpoints). */
  session(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  nodes(ws?: WatchSet): Indexed<Node[]> {
    return this.catalog.nodeList(ws);
  }

  /** Every node's LAN coordinates (/v1/coordinate/nodes). */
  coordinateList(ws?: WatchSet): Indexed<CoordinateEntry[]> {
    return this.coordinates.list(ws);
  }

  /** One node's LAN coordinates, one per segment (/v1/coordinate/node/:node). */
  nodeCoordinates(node: string, ws?: WatchSet): Indexed<CoordinateEntry[]> {
    return this.coordinates.node(node, ws);
  }

  /** A node's coordinate (default segment) as it is now, without watching: what ?near sorts by. */
  coordinateOf(node: string): CoordinateEntry['Coord'] | null {
    return this.coordinates.get(node)?.Coord ?? null;
  }

  /** Service name → the union of its tags. */
  services(ws?: WatchSet): Indexed<Record<string, string[]>> {
    return this.catalog.serviceMap(ws);
  }

  /** Same as nodes() (the name the RPC table uses). */
  nodeList(ws?: WatchSet): Indexed<Node[]> {
    return this.catalog.nodeList(ws);
  }

  /** Same as services() (the name the RPC table uses); `keep` filters instances (?filter). */
  serviceMap(ws?: WatchSet, keep?: (row: ServiceNode) => boolean): Indexed<Record<string, string[]>> {
    return this.catalog.serviceMap(ws, keep);
  }

  /** Instances of a service carrying every tag in `tags` (case-insensitive). */
  serviceNodes(name: string, tags: string[], ws?: WatchSet): Indexed<ServiceNode[]> {
    return this.catalog.serviceNodes(name, tags, ws);
  }

  nodeInfo(node: string, ws?: WatchSet): Indexed<NodeServices | null> {
    return this.catalog.nodeInfo(node, ws);
  }

  nodeServiceList(node: string, ws?: WatchSet): Indexed<NodeServiceList | null> {
    return this.catalog.nodeServiceList(node, ws);
  }

  checkServiceNodes(
    name: string,
    tags: string[],
    passingOnly: boolean,
    ws?: WatchSet,
  ): Indexed<CheckServiceNode[]> {
    return this.catalog.checkServiceNodes(name, tags, passingOnly, ws);
  }

  nodeChecks(node: string, ws?: WatchSet): Indexed<HealthCheck[]> {
    return this.catalog.nodeChecks(node, ws);
  }

  serviceChecks(name: string, ws?: WatchSet): Indexed<HealthCheck[]> {
    return this.catalog.serviceChecks(name, ws);
  }

  checksInState(state: CheckStateFilter, ws?: WatchSet): Indexed<HealthCheck[]> {
    return this.catalog.checksInState(state, ws);
  }

  /** The web UI's reads (/v1/internal/ui/*): service summaries, every node, one node. */
  serviceSummaries(
    ws?: WatchSet,
    visible?: (node: string, service: string) => boolean,
  ): Indexed<ServiceSummary[]> {
    return this.catalog.serviceSummaries(ws, visible);
  }

  nodeDump(ws?: WatchSet): Indexed<NodeDumpEntry[]> {
    return this.catalog.nodeDump(ws);
  }

  nodeDumpOne(node: string, ws?: WatchSet): Indexed<NodeDumpEntry | null> {
    return this.catalog.nodeDumpOne(node, ws);
  }

  /** A table's max index (0 if never written). */
  tableIndex(t: Table): number {
    return this.ctx.tables[t];
  }

  kvCount(): number {
    return this.kv.size;
  }

  tombstoneCount(): number {
    return this.kv.tombstoneCount;
  }

  // ================================================================ watching

  /**
   * Resolves when any topic of `ws` is written, or the store is restored from a snapshot; rejects
   * with the signal's reason as soon as it aborts. Either way its listener is gone.
   */
  waitForChange(ws: WatchSet, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        unsubscribe();
        reject(signal?.reason as Error);
      };
      const unsubscribe = this.watchers.subscribe(ws, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ================================================================ snapshot

  dump(): StoreData {
    return {
      version: 1,
      lastIndex: this.lastIndex,
      tables: { ...this.ctx.tables },
      kv: this.kv.dump(),
      catalog: this.catalog.dump(),
      sessions: this.sessions.dump(),
      coordinates: this.coordinates.dump(),
      preparedQueries: this.queries.dump(),
      acl: this.acl.dump(),
      indexOffset: this.indexOffset,
      autopilot: this.autopilot.dump(),
    };
  }

  /**
   * A restore applied as a write at store index `index` (a snapshot restored through Raft): the
   * state becomes the snapshot's, and if the snapshot's indexes run past `index`, the offset grows
   * so that the next write comes after all of them.
   */
  restoreAt(index: number, d: StoreData): void {
    const jump = Math.max(0, (Number.isSafeInteger(d?.lastIndex) ? d.lastIndex : 0) - index);
    const offset = this.indexOffset + jump;
    this.load({ ...d, lastIndex: index + jump, indexOffset: offset });
  }

  /** Replaces every table and wakes every watcher (they read state that no longer exists). */
  load(d: StoreData): void {
    // Check the shape before touching anything: a bad snapshot must not leave half a store.
    const ok =
      d?.version === 1 &&
      Number.isSafeInteger(d.lastIndex) &&
      typeof d.tables === 'object' &&
      Array.isArray(d.kv?.keys) &&
      Array.isArray(d.kv.values) &&
      Array.isArray(d.kv.tombstones?.keys) &&
      Array.isArray(d.catalog?.nodes) &&
      Array.isArray(d.catalog.services) &&
      Array.isArray(d.catalog.checks) &&
      (d.sessions === undefined || Array.isArray(d.sessions)) &&
      (d.coordinates === undefined || Array.isArray(d.coordinates?.entries)) &&
      (d.preparedQueries === undefined || Array.isArray(d.preparedQueries)) &&
      (d.acl === undefined || (Array.isArray(d.acl?.tokens) && Array.isArray(d.acl.policies))) &&
      (d.indexOffset === undefined || (Number.isSafeInteger(d.indexOffset) && d.indexOffset >= 0));
    if (!ok) throw new ConsulError(ErrorCode.Corrupt, 'snapshot: not a version 1 state store snapshot');
    const tables = emptyTables();
    for (const t of TABLES) tables[t] = d.tables[t] ?? 0;
    this.kv.load(d.kv);
    this.catalog.load(d.catalog);
    this.sessions.load(d.sessions ?? []);
    this.coordinates.load(d.coordinates);
    this.queries.load(d.preparedQueries ?? []);
    this.acl.load(d.acl);
    this.autopilot.load(d.autopilot);
    Object.assign(this.ctx.tables, tables);
    this.lastIndex = d.lastIndex;
    this.indexOffset = d.indexOffset ?? 0;
    this.restoreGeneration++;
    this.watchers.notifyAll();
    try {
      this.onRestored?.();
    } catch {
      // The listener is the server's bookkeeping; the restore itself stands on every replica.
    }
  }
}
