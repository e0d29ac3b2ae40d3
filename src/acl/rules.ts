// Consul's ACL rules language: the HCL subset its policies are written in, and the JSON form of the
// same thing. A hand-written tokenizer and parser (about what a policy needs: blocks with a label,
// `name = "value"`, comments, quoted strings with escapes; JSON objects and arrays), because the npm
// HCL parsers are WASM builds of a Go library, heavy for a few dozen lines of policy. Every failure
// is a ConsulError 400 naming the line and column, never anything else.
//
// What a policy may say (Consul's acl/policy.go):
//   key_prefix "app/" { policy = "write" }      segmented resources, exact (`key`) or prefix
//   operator = "read"                            global resources
// Dispositions: read, write, deny; `list` only for key and key_prefix. A block needs its `policy`.

import { badRequest, type ConsulError } from '../core/errors.js';

export type Disposition = 'read' | 'list' | 'write' | 'deny';

export const SEGMENTED = ['key', 'service', 'node', 'session', 'agent', 'event', 'query'] as const;
export type RuleResource = (typeof SEGMENTED)[number];

/** Global (unsegmented) resources; mesh and peering are accepted, checked and not used. */
export const GLOBAL = ['acl', 'operator', 'keyring', 'mesh', 'peering'] as const;
export type GlobalRuleResource = (typeof GLOBAL)[number];

export interface SegmentRule {
  resource: RuleResource;
  /** The name (exact rules) or prefix ("" matches everything). */
  segment: string;
  prefix: boolean;
  policy: Disposition;
}

export interface PolicyRules {
  segments: SegmentRule[];
  global: Partial<Record<GlobalRuleResource, Disposition>>;
}

export interface Pos {
  line: number;
  col: number;
}

// ================================================================ tokens

type TokKind = 'ident' | 'string' | 'number' | 'punct' | 'eof';
interface Tok {
  kind: TokKind;
  text: string;
  pos: Pos;
}

function failAt(pos: Pos, msg: string): ConsulError {
  return badRequest(`Failed to parse ACL rules: At ${pos.line}:${pos.col}: ${msg}`);
}

const PUNCT = new Set(['{', '}', '[', ']', '=', ':', ',']);
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_.-]/;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let col = 1;
  const pos = (): Pos => ({ line, col });
  const advance = (n = 1): void => {
    for (let k = 0; k < n; k++) {
      if (src[i] === '\n') {
        line++;
        col = 1;
      } else col++;
      i++;
    }
  };
  while (i < src.length) {
    const c = src[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\uFEFF') {
      advance();
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') advance();
    } else if (c === '/' && src[i + 1] === '*') {
      const start = pos();
      advance(2);
      while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) advance();
      if (i >= src.length) throw failAt(start, 'comment not terminated');
      advance(2);
    } else if (PUNCT.has(c)) {
      toks.push({ kind: 'punct', text: c, pos: pos() });
      advance();
    } else if (c === '"') {
      const start = pos();
      toks.push({ kind: 'string', text: readString(), pos: start });
    } else if (IDENT_START.test(c)) {
      const start = pos();
      let s = '';
      while (i < src.length && IDENT_PART.test(src[i] as string)) {
        s += src[i];
        advance();
      }
      toks.push({ kind: 'ident', text: s, pos: start });
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = pos();
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i, i + 64));
      if (!m) throw failAt(start, `illegal char ${JSON.stringify(c)}`);
      advance(m[0].length);
      toks.push({ kind: 'number', text: m[0], pos: start });
    } else {
      throw failAt(pos(), `illegal char ${JSON.stringify(c)}`);
    }
  }
  toks.push({ kind: 'eof', text: '', pos: pos() });
  return toks;

  function readString(): string {
    const start = pos();
    advance();
    let out = '';
    for (;;) {
      if (i >= src.length || src[i] === '\n') throw failAt(start, 'literal not terminated');
      const ch = src[i] as string;
      if (ch === '"') {
        advance();
        return out;
      }
      if (ch !== '\\') {
        out += ch;
        advance();
        continue;
      }
      const escPos = pos();
      const e = src[i + 1];
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        a: '\x07',
        b: '\b',
        f: '\f',
        v: '\v',
        '"': '"',
        '\\': '\\',
        '/': '/',
      };
      if (e !== undefined && simple[e] !== undefined) {
        out += simple[e];
        advance(2);
      } else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const hex = src.slice(i + 2, i + 2 + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw failAt(escPos, 'invalid escape sequence');
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) throw failAt(escPos, 'invalid escape sequence');
        out += String.fromCodePoint(cp);
        advance(2 + n);
      } else {
        throw failAt(escPos, 'invalid escape sequence');
      }
    }
  }
}

// ================================================================ syntax tree

type Value =
  | { kind: 'string'; v: string; pos: Pos }
  | { kind: 'number' | 'bool'; v: string; pos: Pos }
  | { kind: 'object'; items: Item[]; pos: Pos }
  | { kind: 'list'; values: Value[]; pos: Pos };

interface Item {
  /** `key_prefix "app/" {...}` has two keys; `operator = "read"` one. */
  keys: { text: string; pos: Pos }[];
  value: Value;
}

/** Policies nest three levels at most; anything far deeper is refused before the stack is at risk. */
const MAX_DEPTH = 32;

class Parser {
  private at = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[]) {}

  private enter(pos: Pos): void {
    if (++this.depth > MAX_DEPTH) throw failAt(pos, `nested more than ${MAX_DEPTH} levels deep`);
  }

  private peek(): Tok {
    return this.toks[this.at] as Tok;
  }
  private next(): Tok {
    const t = this.peek();
    if (t.kind !== 'eof') this.at++;
    return t;
  }
  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }
  private expectPunct(text: string, what: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== text) throw failAt(t.pos, `expected ${what}, got ${describe(t)}`);
  }

  /** The whole text: a body of items, or one JSON-style object. */
  document(): Item[] {
    if (this.isPunct('{')) {
      const v = this.object();
      const t = this.peek();
      if (t.kind !== 'eof') throw failAt(t.pos, `unexpected ${describe(t)} after the object`);
      return v.items;
    }
    return this.body('eof');
  }

  private body(end: 'eof' | '}'): Item[] {
    const items: Item[] = [];
    for (;;) {
      const t = this.peek();
      if (end === 'eof' ? t.kind === 'eof' : t.kind === 'punct' && t.text === '}') return items;
      if (t.kind === 'eof') throw failAt(t.pos, 'expected "}" to close the block, got end of input');
      items.push(this.item());
      if (this.isPunct(',')) this.next();
    }
  }

  private item(): Item {
    const keys: Item['keys'] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'ident' || t.kind === 'string') {
        this.next();
        keys.push({ text: t.text, pos: t.pos });
        continue;
      }
      break;
    }
    const t = this.peek();
    if (keys.length === 0) throw failAt(t.pos, `expected a name, got ${describe(t)}`);
    if (this.isPunct('=') || this.isPunct(':')) {
      if (keys.length > 1) throw failAt(t.pos, `unexpected ${describe(t)} after a block label`);
      this.next();
      return { keys, value: this.value() };
    }
    if (this.isPunct('{')) return { keys, value: this.object() };
    throw failAt(t.pos, `expected "=" or "{" after ${JSON.stringify(keys.at(-1)?.text)}, got ${describe(t)}`);
  }

  private object(): Value & { kind: 'object' } {
    const start = this.peek().pos;
    this.enter(start);
    this.expectPunct('{', '"{"');
    const items = this.body('}');
    this.expectPunct('}', '"}"');
    this.depth--;
    return { kind: 'object', items, pos: start };
  }

  private value(): Value {
    const t = this.peek();
    if (t.kind === 'string') {
      this.next();
      return { kind: 'string', v: t.text, pos: t.pos };
    }
    if (t.kind === 'number') {
      this.next();
      return { kind: 'number', v: t.text, pos: t.pos };
    }
    if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) {
      this.next();
      return { kind: 'bool', v: t.text, pos: t.pos };
    }
    if (this.isPunct('{')) return this.object();
    if (this.isPunct('[')) {
      this.enter(t.pos);
      this.next();
      const values: Value[] = [];
      while (!this.isPunct(']')) {
        if (this.peek().kind === 'eof') throw failAt(this.peek().pos, 'expected "]", got end of input');
        values.push(this.value());
        if (this.isPunct(',')) this.next();
        else if (!this.isPunct(']'))
          throw failAt(this.peek().pos, `expected "," or "]", got ${describe(this.peek())}`);
      }
      this.next();
      this.depth--;
      return { kind: 'list', values, pos: t.pos };
    }
    throw failAt(t.pos, `expected a value, got ${describe(t)}`);
  }
}

function describe(t: Tok): string {
  if (t.kind === 'eof') return 'end of input';
  if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`;
  return JSON.stringify(t.text);
}

// ================================================================ meaning

const PREFIXED = new Map<string, { resource: RuleResource; prefix: boolean }>(
  SEGMENTED.flatMap((r) => [
    [r, { resource: r, prefix: false }],
    [`${r}_prefix`, { resource: r, prefix: true }],
  ]),
);

function invalid(what: string, pos: Pos, msg: string): ConsulError {
  return badRequest(`Invalid ${what} at ${pos.line}:${pos.col}: ${msg}`);
}

function disposition(v: Value, what: string, allowList: boolean): Disposition {
  if (v.kind !== 'string') throw invalid(what, v.pos, `expected a string such as "read", got a ${v.kind}`);
  const ok = allowList ? ['read', 'list', 'write', 'deny'] : ['read', 'write', 'deny'];
  if (!ok.includes(v.v)) {
    throw invalid(what, v.pos, `${JSON.stringify(v.v)} is not one of ${ok.join(', ')}`);
  }
  return v.v as Disposition;
}

/** One rule block's body: `policy` (required) and, for services, `intentions` (checked, unused). */
function ruleBody(
  v: Value,
  kind: string,
  segment: string,
  allowList: boolean,
  resource: RuleResource,
): Disposition {
  const what = `${kind} policy for ${JSON.stringify(segment)}`;
  const objects = v.kind === 'list' ? v.values : [v];
  let policy: Disposition | undefined;
  for (const o of objects) {
    if (o.kind !== 'object') throw invalid(what, o.pos, `expected a block such as { policy = "read" }`);
    for (const it of o.items) {
      const key = it.keys[0] as { text: string; pos: Pos };
      if (it.keys.length !== 1) throw invalid(what, key.pos, `unexpected block ${JSON.stringify(key.text)}`);
      if (key.text === 'policy') policy = disposition(it.value, what, allowList);
      else if (key.text === 'intentions' && resource === 'service') disposition(it.value, what, false);
      else throw invalid(what, key.pos, `unknown field ${JSON.stringify(key.text)}`);
    }
  }
  if (policy === undefined) throw invalid(what, v.pos, 'missing policy (read, write or deny)');
  return policy;
}

/** Parses a policy's Rules text (HCL or JSON). An empty text grants nothing. */
export function parseRules(text: string): PolicyRules {
  const items = new Parser(tokenize(text)).document();
  const out: PolicyRules = { segments: [], global: {} };
  for (const it of items) {
    const head = it.keys[0] as { text: string; pos: Pos };
    const name = head.text;
    if ((GLOBAL as readonly string[]).includes(name)) {
      if (it.keys.length !== 1) throw invalid(`${name} policy`, head.pos, `${name} takes no label`);
      const d = disposition(it.value, `${name} policy`, false);
      const g = name as GlobalRuleResource;
      out.global[g] = mergeDisposition(out.global[g], d);
      continue;
    }
    const kind = PREFIXED.get(name);
    if (!kind) throw invalid('rules', head.pos, `unknown resource ${JSON.stringify(name)}`);
    const allowList = kind.resource === 'key';
    const add = (segment: string, body: Value): void => {
      const policy = ruleBody(body, name, segment, allowList, kind.resource);
      out.segments.push({ resource: kind.resource, segment, prefix: kind.prefix, policy });
    };
    if (it.keys.length === 2) {
      add((it.keys[1] as { text: string }).text, it.value);
    } else if (it.keys.length > 2) {
      throw invalid(`${name} policy`, (it.keys[2] as { pos: Pos }).pos, 'a rule takes one label');
    } else {
      // The nested form (HCL `key_prefix = { "app/" = {...} }`, and JSON): label → body, maybe in lists.
      const objects = it.value.kind === 'list' ? it.value.values : [it.value];
      for (const o of objects) {
        if (o.kind !== 'object') {
          throw invalid(`${name} policy`, o.pos, `expected ${name} "<name>" { policy = "..." }`);
        }
        for (const sub of o.items) {
          const label = sub.keys[0] as { text: string; pos: Pos };
          if (sub.keys.length !== 1) throw invalid(`${name} policy`, label.pos, 'a rule takes one label');
          add(label.text, sub.value);
        }
      }
    }
  }
  return out;
}

/** Consul's takesPrecedenceOver: deny > write > list > read. */
const RANK: Record<Disposition, number> = { read: 1, list: 2, write: 3, deny: 4 };

export function mergeDisposition(a: Disposition | undefined, b: Disposition): Disposition {
  return a === undefined || RANK[b] > RANK[a] ? b : a;
}
