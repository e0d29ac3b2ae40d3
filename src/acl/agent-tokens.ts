// The agent's own tokens (acl.tokens.default and acl.tokens.agent), changed at run time through
// PUT /v1/agent/token/<kind>, and with acl.enable_token_persistence kept in the data dir as
// acl-tokens.json (mode 0600, Consul's file name and keys), read back at the next start where they
// take the place of the config file's values, as in Consul.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config/config.js';
import { badRequest, ConsulError, ErrorCode } from '../core/errors.js';
import { writeSecretFile } from './secret.js';

export const TOKENS_FILE = 'acl-tokens.json';

export type AgentTokenKind = 'default' | 'agent';

/** Consul's names for the kinds, current and legacy. */
const KINDS: Record<string, AgentTokenKind> = {
  default: 'default',
  acl_token: 'default',
  agent: 'agent',
  acl_agent_token: 'agent',
};
const UNSUPPORTED = new Set([
  'agent_recovery',
  'agent_master',
  'acl_agent_master_token',
  'replication',
  'acl_replication_token',
  'config_file_service_registration',
  'dns',
]);

export function agentTokenKind(name: string): AgentTokenKind {
  const k = KINDS[name];
  if (k) return k;
  if (UNSUPPORTED.has(name)) throw badRequest(`Token "${name}" is not supported by Consulate`);
  throw new ConsulError(ErrorCode.NotFound, `Token "${name}" is unknown`);
}

function file(c: AgentConfig): string | null {
  return c.acl.enableTokenPersistence && !c.dev && c.dataDir !== '' ? join(c.dataDir, TOKENS_FILE) : null;
}

/** At start: persisted tokens replace the config's (a missing file changes nothing). */
export function loadPersistedTokens(c: AgentConfig): void {
  const path = file(c);
  if (!path) return;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (err) {
    throw new ConsulError(ErrorCode.Config, `${path}: invalid JSON: ${(err as Error).message}`);
  }
  const s = (saved ?? {}) as Record<string, unknown>;
  if (typeof s['default'] === 'string') c.acl.tokens.default = s['default'];
  if (typeof s['agent'] === 'string') c.acl.tokens.agent = s['agent'];
}

/** Sets one of the agent's tokens (in the live config, which resolution reads) and persists it. */
export async function setAgentToken(c: AgentConfig, kind: AgentTokenKind, token: string): Promise<void> {
  c.acl.tokens[kind] = token;
  const path = file(c);
  if (!path) return;
  const body: Record<string, string> = {};
  if (c.acl.tokens.default !== '') body['default'] = c.acl.tokens.default;
  if (c.acl.tokens.agent !== '') body['agent'] = c.acl.tokens.agent;
  await writeSecretFile(path, JSON.stringify(body));
}
