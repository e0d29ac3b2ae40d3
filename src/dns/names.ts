// What a DNS name asks for: a pure function from the question's labels (already lower-cased) to a
// Lookup. Consul's forms, right to left: the domain (or alt_domain), an optional datacenter (and an
// optional ".dc" after it), the kind (service, node, query, addr), and what is left names the thing.

export type Lookup =
  | { kind: 'service'; zone: string[]; dc: string; service: string; tag: string }
  | { kind: 'node'; zone: string[]; dc: string; node: string }
  | { kind: 'addr'; zone: string[]; dc: string; ip: string }
  | { kind: 'query'; zone: string[]; dc: string; name: string }
  | { kind: 'ptr'; zone: string[]; ip: string }
  /** The domain itself: SOA, NS. */
  | { kind: 'apex'; zone: string[] }
  /** Inside our domain but no name we serve. */
  | { kind: 'unknown'; zone: string[] }
  /** Outside our domains: a recursor's business, else REFUSED. */
  | { kind: 'outside' };

export interface Domains {
  /** Labels of the domain ("consul" → ["consul"]), lower-cased. */
  domain: string[];
  /** Labels of alt_domain; empty when none. */
  altDomain: string[];
  /** This agent's datacenter: a name without one means this. */
  datacenter: string;
}

const KINDS = new Set(['service', 'node', 'query', 'addr']);

function endsWith(labels: readonly string[], suffix: readonly string[]): boolean {
  if (suffix.length === 0 || suffix.length > labels.length) return false;
  const off = labels.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (labels[off + i] !== suffix[i]) return false;
  return true;
}

export function parseName(labels: readonly string[], d: Domains): Lookup {
  const reverse = parseReverse(labels);
  if (reverse !== undefined) {
    return reverse === null
      ? { kind: 'unknown', zone: d.domain }
      : { kind: 'ptr', zone: d.domain, ip: reverse };
  }
  // The longer domain first: alt_domain may sit under the primary one or the other way round.
  const candidates = [d.domain, d.altDomain].filter((z) => z.length > 0).sort((a, b) => b.length - a.length);
  const hit = candidates.find((z) => endsWith(labels, z));
  if (!hit) return { kind: 'outside' };
  const zone = hit;
  const rest = labels.slice(0, labels.length - zone.length);
  const n = rest.length;
  if (n === 0) return { kind: 'apex', zone };
  const unknown: Lookup = { kind: 'unknown', zone };

  // RFC 2782 without ".service": _<svc>._<tag|tcp>[.<dc>].
  const r0 = rest[0] as string;
  const r1 = rest[1] ?? '';
  if ((n === 2 || n === 3) && r0.startsWith('_') && r1.startsWith('_') && !KINDS.has(rest[n - 1] as string)) {
    return rfc2782(zone, n === 3 ? (rest[2] as string) : d.datacenter, r0, r1) ?? unknown;
  }

  // Where the kind label is: last, or before a datacenter, or before "<dc>.dc".
  let at: number;
  let dc = d.datacenter;
  if (KINDS.has(rest[n - 1] as string)) at = n - 1;
  else if (n >= 2 && KINDS.has(rest[n - 2] as string)) {
    at = n - 2;
    dc = rest[n - 1] as string;
  } else if (n >= 3 && rest[n - 1] === 'dc' && KINDS.has(rest[n - 3] as string)) {
    at = n - 3;
    dc = rest[n - 2] as string;
  } else return unknown;
  const kind = rest[at] as string;
  const parts = rest.slice(0, at);
  if (parts.length === 0 || dc === '') return unknown;

  switch (kind) {
    case 'service': {
      if (
        parts.length === 2 &&
        (parts[0] as string).startsWith('_') &&
        (parts[1] as string).startsWith('_')
      ) {
        return rfc2782(zone, dc, parts[0] as string, parts[1] as string) ?? unknown;
      }
      const service = parts[parts.length - 1] as string;
      const tag = parts.slice(0, -1).join('.');
      return { kind: 'service', zone, dc, service, tag };
    }
    case 'node':
      return { kind: 'node', zone, dc, node: parts.join('.') };
    case 'query':
      return { kind: 'query', zone, dc, name: parts.join('.') };
    case 'addr': {
      const ip = parts.length === 1 ? ipFromHex(parts[0] as string) : null;
      return ip === null ? unknown : { kind: 'addr', zone, dc, ip };
    }
    default:
      return unknown;
  }
}

/** RFC 2782's _<service>._<tag|tcp>: "_tcp" means no tag filter (as in Consul). */
function rfc2782(zone: string[], dc: string, svc: string, proto: string): Lookup | null {
  const service = svc.slice(1);
  const tag = proto.slice(1);
  if (service === '' || tag === '' || dc === '') return null;
  return { kind: 'service', zone, dc, service, tag: tag === 'tcp' ? '' : tag };
}

/**
 * An address from a reverse name: undefined when the name is not under in-addr.arpa or ip6.arpa,
 * null when it is but names no whole address.
 */
export function parseReverse(labels: readonly string[]): string | null | undefined {
  if (endsWith(labels, ['in-addr', 'arpa'])) {
    const octets = labels.slice(0, -2);
    if (octets.length !== 4 || !octets.every((o) => /^(0|[1-9][0-9]{0,2})$/.test(o) && Number(o) <= 255))
      return null;
    return [...octets].reverse().join('.');
  }
  if (endsWith(labels, ['ip6', 'arpa'])) {
    const nibbles = labels.slice(0, -2);
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return null;
    const hex = [...nibbles].reverse().join('');
    return canonicalIp6(hex);
  }
  return undefined;
}

/** `<hex>.addr` names: 8 hex digits for IPv4, 32 for IPv6 (what SRV targets use for service addresses). */
export function ipFromHex(hex: string): string | null {
  if (!/^[0-9a-f]+$/.test(hex)) return null;
  if (hex.length === 8) {
    return [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
  }
  if (hex.length === 32) return canonicalIp6(hex);
  return null;
}

/** The hex label of an address (the inverse of ipFromHex); null for anything that is not an IP. */
export function hexFromIp(ip: string): string | null {
  const b = ipBytes(ip);
  return b ? Buffer.from(b).toString('hex') : null;
}

/** 32 hex digits → the shortest IPv6 text (RFC 5952). */
function canonicalIp6(hex: string): string {
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(parseInt(hex.slice(i, i + 4), 16).toString(16));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** 4 or 16 bytes for an IPv4 or IPv6 literal; null for anything else (a host name). */
export function ipBytes(ip: string): Uint8Array | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? Uint8Array.from(b) : null;
  }
  if (!ip.includes(':')) return null;
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const m = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(ip);
  if (m) {
    const t = ipBytes(m[2] as string);
    if (!t) return null;
    const hi = (((t[0] as number) << 8) | (t[1] as number)).toString(16);
    const lo = (((t[2] as number) << 8) | (t[3] as number)).toString(16);
    text = `${m[1]}${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const gs = s.split(':');
    if (!gs.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
    return gs.map((g) => parseInt(g, 16));
  };
  const head = parse(halves[0] as string);
  const rest = halves.length === 2 ? parse(halves[1] as string) : [];
  if (!head || !rest) return null;
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** The address as a reverse name's text form, for matching node addresses in PTR lookups. */
export function normalIp(ip: string): string | null {
  const b = ipBytes(ip);
  if (!b) return null;
  return b.length === 4 ? [...b].join('.') : canonicalIp6(Buffer.from(b).toString('hex'));
}
