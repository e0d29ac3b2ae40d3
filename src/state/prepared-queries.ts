// The prepared-queries table (Consul's state/prepared_query.go): queries by ID, a unique lower-cased
// name index (Consul resolves names case-insensitively), the templates by their name prefix, and the
// queries bound to each session so a session's invalidation can delete them in the same write. Only the store changes it, inside a
// write; nothing here draws an ID or reads a clock.
//
// Index rule: every read answers with the table index (Consul's maxIndex "prepared-queries"), never 0.
//
// Also here: decoding a query from JSON (Go's case-insensitive field matching, Consul's defaults)
// and Consul's parseQuery policy checks, shared by the HTTP route, the endpoint and the FSM.

import { badRequest } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import { cmp, type StoreContext } from './context.js';
import { renderTemplate } from './prepared-query-template.js';
import { topic, type WatchSet } from './watch.js';
import type { Indexed } from './types.js';

export interface QueryTemplate {
  /** "" for a static query; Consul's only template type is "name_prefix_match". */
  Type: string;
  Regexp: string;
  RemoveEmptyTags: boolean;
}

export interface QueryFailover {
  /** How many of the nearest other datacenters (by RTT) to try; 0: none. */
  NearestN: number;
  /** Tried in order after the NearestN ones (duplicates and unknown datacenters skipped). */
  Datacenters: string[] | null;
}

export interface ServiceQuery {
  Service: string;
  Failover: QueryFailover;
  IgnoreCheckIDs: string[] | null;
  OnlyPassing: boolean;
  /** "_agent", "_ip" or a node name: results sorted by RTT from it. */
  Near: string;
  /** Every tag must be present; a "!tag" must be absent (case-insensitive). */
  Tags: string[] | null;
  NodeMeta: Record<string, string> | null;
  ServiceMeta: Record<string, string> | null;
  Connect: { Enabled: boolean };
}

/** A prepared query in Consul's JSON shape (RaftIndex flattened, as Go's embedding does). */
export interface PreparedQuery {
  ID: string;
  Name: string;
  Session: string;
  Token: string;
  Template: QueryTemplate;
  Service: ServiceQuery;
  DNS: { TTL: string };
  CreateIndex: number;
  ModifyIndex: number;
}

/** A query as a set command carries it: everything but the Raft indexes. */
export type PreparedQueryInput = Omit<PreparedQuery, 'CreateIndex' | 'ModifyIndex'>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Consul only looks a name up as an ID when it is shaped like one. */
export function isUuid(s: string): boolean {
  return s.length === 36 && UUID.test(s);
}

const nameKey = (n: string): string => n.toLowerCase();

export class PreparedQueryTable {
  private byId = new Map<string, PreparedQuery>();
  /** lower-cased name → ID (names are unique among queries; "" is not indexed). */
  private byName = new Map<string, string>();
  /** session ID → IDs of the queries bound to it. */
  private bySession = new Map<string, Set<string>>();
  /** lower-cased name → ID of the template with that name (prefix); "" for the catch-all. */
  private templates = new Map<string, string>();

  constructor(private readonly ctx: StoreContext) {}

  // ---------------------------------------------------------------- writes

  /** Inserts or replaces; the caller has checked names and the session (see StateStore). */
  set(index: number, q: PreparedQueryInput): PreparedQuery {
    const old = this.byId.get(q.ID);
    if (old) this.unindex(old);
    const rec: PreparedQuery = { ...q, CreateIndex: old ? old.CreateIndex : index, ModifyIndex: index };
    this.byId.set(rec.ID, rec);
    this.index(rec);
    this.touch(index, rec.ID);
    return rec;
  }

  remove(index: number, id: string): PreparedQuery | undefined {
    const q = this.byId.get(id);
    if (!q) return undefined;
    this.byId.delete(id);
    this.unindex(q);
    this.touch(index, id);
    return q;
  }

  private touch(index: number, id: string): void {
    this.ctx.tables.preparedQueries = index;
    this.ctx.touched.add(topic.preparedQueries);
    this.ctx.touched.add(topic.preparedQuery(id));
  }

  private index(q: PreparedQuery): void {
    if (q.Name !== '') this.byName.set(nameKey(q.Name), q.ID);
    if (q.Template.Type !== '') this.templates.set(nameKey(q.Name), q.ID);
    if (q.Session !== '') {
      let ids = this.bySession.get(q.Session);
      if (!ids) this.bySession.set(q.Session, (ids = new Set()));
      ids.add(q.ID);
    }
  }

  private unindex(q: PreparedQuery): void {
    if (q.Name !== '' && this.byName.get(nameKey(q.Name)) === q.ID) this.byName.delete(nameKey(q.Name));
    if (this.templates.get(nameKey(q.Name)) === q.ID) this.templates.delete(nameKey(q.Name));
    const ids = this.bySession.get(q.Session);
    ids?.delete(q.ID);
    if (ids?.size === 0) this.bySession.delete(q.Session);
  }

  // ---------------------------------------------------------------- reads

  /** By ID; a UUID matches in any case, as Consul's UUID index does (DNS lower-cases names). */
  get(id: string): PreparedQuery | undefined {
    return this.byId.get(id) ?? (isUuid(id) ? this.byId.get(id.toLowerCase()) : undefined);
  }

  byNameExact(name: string): PreparedQuery | undefined {
    const id = this.byName.get(nameKey(name));
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** The template named exactly `name` (any case; "" is the catch-all), if any. */
  templateNamed(name: string): PreparedQuery | undefined {
    const id = this.templates.get(nameKey(name));
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** The template with the longest name that prefixes `name` (case-insensitive). */
  private longestTemplate(name: string): PreparedQuery | undefined {
    const key = nameKey(name);
    let best: string | undefined;
    for (const prefix of this.templates.keys()) {
      if (key.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix;
    }
    return best === undefined ? undefined : this.byId.get(this.templates.get(best) as string);
  }

  /** IDs of the queries bound to a session, in ID order. */
  ofSession(session: string): string[] {
    return [...(this.bySession.get(session) ?? [])].sort(cmp);
  }

  info(id: string, ws?: WatchSet): Indexed<PreparedQuery | null> {
    ws?.add(topic.preparedQuery(isUuid(id) ? id.toLowerCase() : id));
    return { index: this.tableIndex(), value: this.get(id) ?? null };
  }

  list(ws?: WatchSet): Indexed<PreparedQuery[]> {
    ws?.add(topic.preparedQueries);
    return { index: this.tableIndex(), value: this.all() };
  }

  /**
   * Consul's PreparedQueryResolve: by ID when the text looks like one, else by exact name, else
   * the template with the longest matching prefix; a template comes back rendered for the name.
   * The whole list is watched: a query created under that name later must wake the reader.
   */
  resolve(idOrName: string, ws?: WatchSet, segment = ''): Indexed<PreparedQuery | null> {
    ws?.add(topic.preparedQueries);
    if (idOrName === '') throw badRequest('Missing query ID');
    const index = this.tableIndex();
    const byId = isUuid(idOrName) ? this.get(idOrName) : undefined;
    if (byId) {
      if (byId.Template.Type !== '') {
        throw badRequest('prepared query templates can only be resolved up by name, not by ID');
      }
      return { index, value: byId };
    }
    const found = this.byNameExact(idOrName) ?? this.longestTemplate(idOrName);
    if (!found) return { index, value: null };
    return { index, value: found.Template.Type !== '' ? renderTemplate(found, idOrName, segment) : found };
  }

  all(): PreparedQuery[] {
    return [...this.byId.keys()].sort(cmp).map((id) => this.byId.get(id) as PreparedQuery);
  }

  get size(): number {
    return this.byId.size;
  }

  tableIndex(): number {
    return this.ctx.tables.preparedQueries || 1;
  }

  // ---------------------------------------------------------------- snapshot

  dump(): PreparedQuery[] {
    return this.all();
  }

  load(list: PreparedQuery[]): void {
    this.byId = new Map();
    this.byName = new Map();
    this.bySession = new Map();
    this.templates = new Map();
    for (const q of list) {
      this.byId.set(q.ID, q);
      this.index(q);
    }
  }
}

// ================================================================ decoding and policy

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A field as Go's JSON decoder finds it: exact name first, else any case-insensitive match. */
function field(o: Obj, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

const decodeFailed = (what: string): Error => badRequest(`Request decode failed: ${what}`);

function str(o: Obj, name: string, path: string): string {
  const v = field(o, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw decodeFailed(`${path}${name} must be a string`);
  return v;
}

function bool(o: Obj, name: string, path: string): boolean {
  const v = field(o, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw decodeFailed(`${path}${name} must be a boolean`);
  return v;
}

function strList(o: Obj, name: string, path: string): string[] | null {
  const v = field(o, name);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw decodeFailed(`${path}${name} must be a list of strings`);
  return [...v];
}

function strMap(o: Obj, name: string, path: string): Record<string, string> | null {
  const v = field(o, name);
  if (v === undefined || v === null) return null;
  if (!isObj(v) || !Object.values(v).every((x) => typeof x === 'string'))
    throw decodeFailed(`${path}${name} must be a map of strings`);
  return { ...(v as Record<string, string>) };
}

function sub(o: Obj, name: string, path: string): Obj {
  const v = field(o, name);
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw decodeFailed(`${path}${name} must be an object`);
  return v;
}

/**
 * A query definition from a JSON body (or an RPC argument), with Consul's zero values filled in.
 * Only decoding errors here; Consul's policy is checkQueryPolicy. The ID is taken as given.
 */
export function decodeQuery(raw: unknown): PreparedQueryInput {
  if (!isObj(raw)) throw decodeFailed('expected a JSON object');
  const svc = sub(raw, 'Service', '');
  const fo = sub(svc, 'Failover', 'Service.');
  const nearestN = field(fo, 'NearestN') ?? 0;
  if (typeof nearestN !== 'number' || !Number.isSafeInteger(nearestN))
    throw decodeFailed('Service.Failover.NearestN must be an integer');
  const tpl = sub(raw, 'Template', '');
  const connect = sub(svc, 'Connect', 'Service.');
  return {
    ID: str(raw, 'ID', ''),
    Name: str(raw, 'Name', ''),
    Session: str(raw, 'Session', ''),
    Token: str(raw, 'Token', ''),
    Template: {
      Type: str(tpl, 'Type', 'Template.'),
      Regexp: str(tpl, 'Regexp', 'Template.'),
      RemoveEmptyTags: bool(tpl, 'RemoveEmptyTags', 'Template.'),
    },
    Service: {
      Service: str(svc, 'Service', 'Service.'),
      Failover: {
        NearestN: nearestN,
        Datacenters: strList(fo, 'Datacenters', 'Service.Failover.'),
      },
      IgnoreCheckIDs: strList(svc, 'IgnoreCheckIDs', 'Service.'),
      OnlyPassing: bool(svc, 'OnlyPassing', 'Service.'),
      Near: str(svc, 'Near', 'Service.'),
      Tags: strList(svc, 'Tags', 'Service.'),
      NodeMeta: strMap(svc, 'NodeMeta', 'Service.'),
      ServiceMeta: strMap(svc, 'ServiceMeta', 'Service.'),
      Connect: { Enabled: bool(connect, 'Enabled', 'Service.Connect.') },
    },
    DNS: { TTL: str(sub(raw, 'DNS', ''), 'TTL', 'DNS.') },
  };
}

/** Consul's redacted token text: a definition read back and submitted again must not carry it. */
export const REDACTED_TOKEN = '<hidden>';

/**
 * Consul's parseQuery (agent/consul/prepared_query_endpoint.go), with its messages: what a create
 * or update must satisfy whatever the state. Name and session checks depend on state (the store).
 */
export function checkQueryPolicy(q: PreparedQueryInput): void {
  const invalid = (why: string): Error => badRequest(`Invalid prepared query: ${why}`);
  if (q.Name === '' && q.Template.Type === '' && q.Session === '')
    throw invalid('Must be bound to a session');
  if (q.Token === REDACTED_TOKEN) {
    throw invalid(
      `Bad Token '${q.Token}', it looks like a query definition with a redacted token was submitted`,
    );
  }
  if (q.Service.Service === '') throw invalid('Must provide a Service name to query');
  // Connect-capable lookups need Connect's catalog, which Consulate does not have.
  if (q.Service.Connect.Enabled) throw invalid('Service.Connect is not supported by Consulate');
  if (q.Service.Failover.NearestN < 0) {
    throw invalid(`Bad NearestN '${q.Service.Failover.NearestN}', must be >= 0`);
  }
  for (const k of Object.keys(q.Service.NodeMeta ?? {})) {
    if (k === '') throw invalid("Couldn't load metadata pair: key cannot be blank");
  }
  if (q.DNS.TTL !== '') {
    const ms = parseDuration(q.DNS.TTL);
    if (ms === undefined || !Number.isFinite(ms)) {
      throw invalid(`Bad DNS TTL '${q.DNS.TTL}': time: invalid duration ${JSON.stringify(q.DNS.TTL)}`);
    }
    if (ms < 0) throw invalid(`DNS TTL '${Math.round(ms * 1e6)}', must be >=0`);
  }
}

/** A query's DNS TTL in whole seconds, or undefined when it sets none. */
export function queryDnsTtl(ttl: string): number | undefined {
  if (ttl === '') return undefined;
  const ms = parseDuration(ttl);
  return ms === undefined || !Number.isFinite(ms) || ms < 0 ? undefined : Math.floor(ms / 1000);
}
