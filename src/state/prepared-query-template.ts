// Prepared query templates (Consul's prepared_query/template.go): a query whose Template.Type is
// "name_prefix_match" answers every name it is a prefix of (the longest such prefix wins; a template
// named "" catches everything). Its Service fields may interpolate ${name.full}, ${name.prefix},
// ${name.suffix}, ${agent.segment} and ${match(N)} (the Nth group of Template.Regexp applied to the
// full name). The expressions are the small subset of HIL that Consul documents for templates.
// Everything here is pure and deterministic: the store compiles a template when it is written and
// renders it when a name resolves to it.

import { badRequest } from '../core/errors.js';
import type { PreparedQuery, PreparedQueryInput, ServiceQuery } from './prepared-queries.js';

export const TEMPLATE_NAME_PREFIX_MATCH = 'name_prefix_match';

type Part = { text: string } | { variable: string } | { match: number };

/** Splits "a-${name.suffix}" into literal text and interpolations; throws on a malformed one. */
function parse(s: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  while (i < s.length) {
    const at = s.indexOf('${', i);
    if (at < 0) {
      parts.push({ text: s.slice(i) });
      break;
    }
    // HIL's escape: "$${" is a literal "${".
    if (at > 0 && s[at - 1] === '$') {
      parts.push({ text: `${s.slice(i, at - 1)}\${` });
      i = at + 2;
      continue;
    }
    if (at > i) parts.push({ text: s.slice(i, at) });
    const end = s.indexOf('}', at + 2);
    if (end < 0) throw new Error('unterminated interpolation "${"');
    const expr = s.slice(at + 2, end).trim();
    const m = /^match\(\s*(-?\d+)\s*\)$/.exec(expr);
    if (m) parts.push({ match: Number(m[1]) });
    else if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(expr)) parts.push({ variable: expr });
    else throw new Error(`unsupported expression ${JSON.stringify(expr)}`);
    i = end + 1;
  }
  return parts;
}

interface Scope {
  vars: Record<string, string>;
  matches: string[] | null;
}

function evaluate(parts: Part[], scope: Scope): string {
  let out = '';
  for (const p of parts) {
    if ('text' in p) out += p.text;
    else if ('match' in p) out += scope.matches?.[p.match] ?? '';
    else {
      const v = scope.vars[p.variable];
      if (v === undefined) throw new Error(`unknown variable accessed: ${p.variable}`);
      out += v;
    }
  }
  return out;
}

/** Every string of the Service part, with the path Consul's messages use (".Tags[1]"). */
function mapStrings(s: ServiceQuery, f: (path: string, v: string) => string): ServiceQuery {
  const list = (path: string, xs: string[] | null): string[] | null =>
    xs === null ? null : xs.map((x, i) => f(`${path}[${i}]`, x));
  const map = (path: string, m: Record<string, string> | null): Record<string, string> | null =>
    m === null ? null : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(`${path}[${k}]`, v)]));
  return {
    ...s,
    Service: f('.Service', s.Service),
    Near: f('.Near', s.Near),
    Tags: list('.Tags', s.Tags),
    IgnoreCheckIDs: list('.IgnoreCheckIDs', s.IgnoreCheckIDs),
    NodeMeta: map('.NodeMeta', s.NodeMeta),
    ServiceMeta: map('.ServiceMeta', s.ServiceMeta),
    Failover: { ...s.Failover, Datacenters: list('.Failover.Datacenters', s.Failover.Datacenters) },
  };
}

/** Go's (?P<name>…) groups, which JavaScript spells (?<name>…). */
function compileRegexp(source: string): RegExp {
  return new RegExp(source.replace(/\(\?P</g, '(?<'));
}

/**
 * Consul's Compile: the type must be known, every Service string must parse, the Regexp must
 * compile, and a render with the template's own name must succeed. Throws with Consul's messages.
 */
export function compileTemplate(q: PreparedQueryInput): void {
  if (q.Template.Type !== TEMPLATE_NAME_PREFIX_MATCH)
    throw new Error(`Bad Template.Type '${q.Template.Type}'`);
  mapStrings(q.Service, (path, v) => {
    try {
      parse(v);
    } catch (err) {
      throw new Error(`Bad format '${v}' in Service${path}: ${(err as Error).message}`, { cause: err });
    }
    return v;
  });
  if (q.Template.Regexp !== '') {
    try {
      compileRegexp(q.Template.Regexp);
    } catch (err) {
      throw new Error(`Bad Regexp: ${(err as Error).message}`, { cause: err });
    }
  }
  renderTemplate(q, q.Name);
}

/**
 * Consul's Render: the query as it applies to `name` (the full name asked for). The result keeps
 * the template's ID, name and Template; only the Service part is interpolated.
 */
export function renderTemplate<Q extends PreparedQueryInput | PreparedQuery>(
  q: Q,
  name: string,
  segment = '',
): Q {
  const matches = q.Template.Regexp !== '' ? compileRegexp(q.Template.Regexp).exec(name) : null;
  const scope: Scope = {
    vars: {
      'name.full': name,
      'name.prefix': q.Name,
      'name.suffix': name.startsWith(q.Name) ? name.slice(q.Name.length) : name,
      'agent.segment': segment,
    },
    matches: matches ? [...matches].map((m) => m ?? '') : null,
  };
  let service = mapStrings(q.Service, (path, v) => {
    try {
      return evaluate(parse(v), scope);
    } catch (err) {
      throw badRequest(`Bad evaluation for '${v}' in Service${path}: ${(err as Error).message}`);
    }
  });
  if (q.Template.RemoveEmptyTags && service.Tags)
    service = { ...service, Tags: service.Tags.filter((t) => t !== '') };
  return { ...q, Service: service };
}
