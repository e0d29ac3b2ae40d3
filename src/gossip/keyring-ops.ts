// Cluster-wide keyring operations, the way Consul (through serf) does them: one query to every
// member; each member applies the operation to its own keyring (and its keyring file) and answers
// with the outcome and its keys; the asker tallies the answers into /v1/operator/keyring's shape.
// Rotation is then: install the new key everywhere, use it everywhere, remove the old one.

import { ConsulError, ErrorCode, badRequest } from '../core/errors.js';
import { decodeBase64, decodeKey } from './keyring.js';
import type { GossipAgent } from './driver.js';

/** Internal query names; the prefix keeps them apart from user queries. */
export const KEYRING_QUERIES = {
  list: '_consulate-list-keys',
  install: '_consulate-install-key',
  use: '_consulate-use-key',
  remove: '_consulate-remove-key',
} as const;
export type KeyringOp = keyof typeof KEYRING_QUERIES;

/** One pool's tally, as /v1/operator/keyring answers it (Consul's structs.KeyringResponse). */
export interface KeyringResponse {
  WAN: boolean;
  Datacenter: string;
  Segment: string;
  /** Every key installed anywhere, with how many nodes have it. */
  Keys: Record<string, number>;
  /** Every primary key, with how many nodes use it. */
  PrimaryKeys: Record<string, number>;
  /** Members the query was meant to reach (alive or suspect). */
  NumNodes: number;
  /** Node name to the error it reported. */
  Messages: Record<string, string>;
}

/** What each member answers (serf's nodeKeyResponse). */
interface NodeKeyResponse {
  Result: boolean;
  Message: string;
  Keys: string[];
  PrimaryKey: string;
}

/** What keyring operations need of the gossip agent. */
export type KeyringAgent = Pick<GossipAgent, 'onQuery' | 'query' | 'keyring' | 'members' | 'local'>;

/** How long to wait for every member's answer; an answer from all ends the wait sooner. */
export const DEFAULT_KEYRING_TIMEOUT_MS = 5000;

const enc = new TextEncoder();
const dec = new TextDecoder();
const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Answers the keyring queries of other members (and this one) with this agent's keyring. */
export function registerKeyringHandlers(agent: KeyringAgent): void {
  agent.onQuery(KEYRING_QUERIES.list, () => encodeJson(applyLocally(agent, 'list', null)));
  for (const op of ['install', 'use', 'remove'] as const) {
    agent.onQuery(KEYRING_QUERIES[op], (payload) => {
      let key: string | null = null;
      try {
        const req = JSON.parse(dec.decode(payload)) as { Key?: unknown };
        if (typeof req.Key === 'string') key = req.Key;
      } catch {
        // Answered below as a failure.
      }
      if (key === null) return encodeJson(failure('Failed to decode key request'));
      return encodeJson(applyLocally(agent, op, key));
    });
  }
}

function failure(message: string): NodeKeyResponse {
  return { Result: false, Message: message, Keys: [], PrimaryKey: '' };
}

/** One member's part: apply `op` to its own keyring (persisted by the keyring itself). */
function applyLocally(agent: KeyringAgent, op: KeyringOp, key: string | null): NodeKeyResponse {
  const ring = agent.keyring();
  if (!ring) {
    return failure(
      op === 'list'
        ? 'Keyring is empty (encryption not enabled)'
        : 'No keyring to modify (encryption not enabled)',
    );
  }
  try {
    if (op === 'install') ring.install(key ?? '');
    else if (op === 'use') ring.use(key ?? '');
    else if (op === 'remove') ring.remove(key ?? '');
  } catch (err) {
    return failure(errText(err));
  }
  return { Result: true, Message: '', Keys: ring.list(), PrimaryKey: ring.primary() };
}

function parseNodeResponse(payload: Uint8Array): NodeKeyResponse | null {
  try {
    const r = JSON.parse(dec.decode(payload)) as Partial<NodeKeyResponse>;
    if (typeof r.Result !== 'boolean') return null;
    return {
      Result: r.Result,
      Message: typeof r.Message === 'string' ? r.Message : '',
      Keys: Array.isArray(r.Keys) ? r.Keys.filter((k): k is string => typeof k === 'string') : [],
      PrimaryKey: typeof r.PrimaryKey === 'string' ? r.PrimaryKey : '',
    };
  } catch {
    return null;
  }
}

export interface KeyringOpResult {
  responses: KeyringResponse[];
  /** Consul's wording for what went wrong (nodes that failed or did not answer); null if none. */
  error: string | null;
}

/**
 * Runs `op` on every member and tallies the answers. Never throws for a node's failure: that is
 * reported in `error` (and per node in Messages). Throws badRequest for a malformed key.
 */
export async function keyringOperation(
  agent: KeyringAgent,
  op: KeyringOp,
  key: string | null,
  opts: { datacenter: string; timeoutMs?: number; wan?: boolean },
): Promise<KeyringOpResult> {
  if (op !== 'list') {
    if (!key) throw badRequest('Key is required');
    // Checked here so a typo is a 400 at once rather than a failure reported by every node.
    if (op === 'install') decodeKey(key);
    else decodeBase64(key);
  }
  const numNodes = agent.members().filter((m) => m.status === 'alive' || m.status === 'suspect').length;
  const payload = op === 'list' ? new Uint8Array() : encodeJson({ Key: key });
  const answers = await agent.query(KEYRING_QUERIES[op], payload, {
    timeoutMs: opts.timeoutMs ?? DEFAULT_KEYRING_TIMEOUT_MS,
    expect: numNodes,
  });
  const resp: KeyringResponse = {
    WAN: opts.wan === true,
    Datacenter: opts.datacenter,
    Segment: '',
    Keys: {},
    PrimaryKeys: {},
    NumNodes: numNodes,
    Messages: {},
  };
  let numErr = 0;
  for (const a of answers) {
    const r = parseNodeResponse(a.payload);
    if (!r) {
      resp.Messages[a.from] = 'Failed to decode key query response';
      numErr++;
      continue;
    }
    if (!r.Result) {
      resp.Messages[a.from] = r.Message;
      numErr++;
    }
    for (const k of r.Keys) resp.Keys[k] = (resp.Keys[k] ?? 0) + 1;
    if (r.PrimaryKey) resp.PrimaryKeys[r.PrimaryKey] = (resp.PrimaryKeys[r.PrimaryKey] ?? 0) + 1;
  }
  let error: string | null = null;
  if (numErr > 0) error = `${numErr}/${numNodes} nodes reported failure`;
  else if (answers.length !== numNodes) error = `${answers.length}/${numNodes} nodes reported success`;
  return { responses: [resp], error };
}

/**
 * Consul's keyringErrorsOrNil: the pool's error, then one line per node that reported one.
 * null when every node answered without error.
 */
export function keyringErrorMessage(result: KeyringOpResult): string | null {
  if (!result.error) return null;
  const lines: string[] = [];
  for (const r of result.responses) {
    lines.push(`${r.Datacenter} (${r.WAN ? 'WAN' : 'LAN'}) error: ${result.error}`);
    for (const [node, msg] of Object.entries(r.Messages).sort(([a], [b]) => (a < b ? -1 : 1))) {
      lines.push(`${node}: ${msg}`);
    }
  }
  return `${lines.length} error${lines.length === 1 ? '' : 's'} occurred:\n${lines.map((l) => `\t* ${l}`).join('\n')}\n\n`;
}

/**
 * Runs `op` on every member of `agent`'s pool and answers the pool's tally (list, install, use or
 * remove, as /v1/operator/keyring's verbs); throws Consul's message when a node failed or did not
 * answer (a 500, or a 503 when nobody reported an error). `wan` marks the tally, and the message,
 * as the WAN pool's: "dc1 (WAN) error: ...".
 */
export async function runKeyringOp(
  agent: KeyringAgent,
  op: KeyringOp,
  key: string | null,
  opts: { datacenter: string; timeoutMs?: number; wan?: boolean },
): Promise<KeyringResponse[]> {
  const result = await keyringOperation(agent, op, key, opts);
  const msg = keyringErrorMessage(result);
  if (msg !== null) {
    // Nodes that answered with an error vs. nodes that did not answer at all.
    const reported = Object.keys(result.responses[0]?.Messages ?? {}).length > 0;
    throw new ConsulError(reported ? ErrorCode.Internal : ErrorCode.Unavailable, msg);
  }
  return result.responses;
}
