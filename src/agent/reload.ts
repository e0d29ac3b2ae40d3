// What a reload (PUT /v1/agent/reload, consulate reload, SIGHUP) may change on a running agent, and
// which of the other settings the new config changed: those need a restart, and the agent says so
// in one warning line. The reloadable set is Consul's (its "Reloadable Configuration" list) as far
// as this agent has those settings: services, checks, watches, log level, node metadata and the
// agent's ACL tokens.

import type { AgentConfig } from '../config/config.js';

/** Config paths a reload applies (dotted AgentConfig fields). */
export const RELOADABLE_PATHS: ReadonlySet<string> = new Set([
  'services',
  'checks',
  'watches',
  'logLevel',
  'nodeMeta',
  'acl.tokens.agent',
  'acl.tokens.default',
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** camelCase field paths as the config keys read (`ports.serfLan` → `ports.serf_lan`). */
export function configKeyOf(path: string): string {
  return path
    .split('.')
    .map((p) => p.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`))
    .join('.');
}

/**
 * The settings `next` changes that a reload cannot apply, as config-key paths, sorted. Objects are
 * compared field by field (so `ports.http` is named, not `ports`), lists and values as a whole.
 * Values are never reported: some are secrets.
 */
export function unreloadableChanges(current: AgentConfig, next: AgentConfig): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (path !== '' && RELOADABLE_PATHS.has(path)) return;
    if (isPlainObject(a) && isPlainObject(b)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const k of keys) walk(a[k], b[k], path === '' ? k : `${path}.${k}`);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(configKeyOf(path));
  };
  walk(current, next, '');
  return out.sort();
}
