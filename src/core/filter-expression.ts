// Consul's ?filter= expressions (its go-bexpr language), compiled once per request and evaluated
// against each entry of a list answer as the API shows it (its JSON field names):
//
//   Service.Meta.version == "2" and not (Checks.Status != passing)
//   "primary" in ServiceTags          ServiceTags contains "primary"
//   NodeMeta is not empty             Node matches "^web-[0-9]+$"
//
// Selectors are dotted field names, with ["key"] for a map key that is not a plain name; a list
// met inside a selector (Checks.Status) matches when any of its entries does. `==` and `!=`
// compare strings, numbers and booleans (the value is read as the field's type); `in`/`contains`
// look for an element of a list, a key of a map or a substring; `is empty` holds for "", [], {} and
// a missing field; `matches` takes RE2 syntax (Go's, as Consul's), run by re2js in linear time, so
// no filter can stall the agent. A selector that names nothing matches nothing (its negations
// everything): Consul checks selectors against its Go types and answers 400 instead.

import { RE2JS } from 're2js';
import { badRequest } from './errors.js';

/** Longer expressions are refused: a filter is a line, not a program. */
export const MAX_FILTER_CHARS = 4096;
/** Nesting of parentheses and `not`, so a hostile filter cannot exhaust the stack. */
const MAX_DEPTH = 64;

type Op =
  | '=='
  | '!='
  | 'in'
  | 'not in'
  | 'contains'
  | 'not contains'
  | 'is empty'
  | 'is not empty'
  | 'matches'
  | 'not matches';

interface Match {
  kind: 'match';
  path: string[];
  op: Op;
  value: string;
  regex?: RE2JS;
}
type Node = Match | { kind: 'and' | 'or'; left: Node; right: Node } | { kind: 'not'; inner: Node };

export type Predicate = (entry: unknown) => boolean;

// ---------------------------------------------------------------- tokens

type Token =
  | { t: 'word'; v: string }
  | { t: 'string'; v: string }
  | { t: 'number'; v: string }
  | { t: 'op'; v: '==' | '!=' | '(' | ')' | '.' | '[' | ']' };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '=' || ch === '!') {
      if (src[i + 1] !== '=') throw syntax(`unexpected "${ch}" at position ${i}`);
      out.push({ t: 'op', v: ch === '=' ? '==' : '!=' });
      i += 2;
      continue;
    }
    if ('().[]'.includes(ch)) {
      out.push({ t: 'op', v: ch as '(' | ')' | '.' | '[' | ']' });
      i++;
      continue;
    }
    if (ch === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length) throw syntax('unterminated string');
        const c = src[i] as string;
        if (c === '"') break;
        if (c === '\\') {
          const n = src[i + 1];
          if (n === undefined) throw syntax('unterminated string');
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
          continue;
        }
        v += c;
        i++;
      }
      i++;
      out.push({ t: 'string', v });
      continue;
    }
    if (ch === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw syntax('unterminated string');
      out.push({ t: 'string', v: src.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    // A bare word: a selector part, a keyword, a number or an unquoted value. Dots split selector
    // parts, so a bare value with dots (1.5, 10.0.0.1) is read as a number or joined back below.
    const m = /^[A-Za-z0-9_\-:/]+/.exec(src.slice(i));
    if (!m) throw syntax(`unexpected "${ch}" at position ${i}`);
    out.push(/^-?[0-9]+$/.test(m[0]) ? { t: 'number', v: m[0] } : { t: 'word', v: m[0] });
    i += m[0].length;
  }
  return out;
}

const syntax = (what: string): Error => badRequest(`Failed to create boolean expression evaluator: ${what}`);

// ---------------------------------------------------------------- parser

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'contains', 'is', 'empty', 'matches']);

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  parse(): Node {
    const n = this.binary('or', 0);
    const rest = this.toks[this.pos];
    if (rest) throw syntax(`unexpected "${rest.v}"`);
    return n;
  }

  private peek(): Token | undefined {
    return this.toks[this.pos];
  }
  private isWord(w: string, at = this.pos): boolean {
    const t = this.toks[at];
    return t?.t === 'word' && t.v === w;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t?.t === 'op' && t.v === v;
  }

  /** `or` of `and`s of unary terms: `and` binds tighter. */
  private binary(kind: 'or' | 'and', depth: number): Node {
    const term = (): Node => (kind === 'or' ? this.binary('and', depth) : this.unary(depth));
    let left = term();
    while (this.isWord(kind)) {
      this.pos++;
      left = { kind, left, right: term() };
    }
    return left;
  }

  private unary(depth: number): Node {
    if (depth > MAX_DEPTH) throw syntax('expression nested too deeply');
    // `not` starts a negation unless it begins `"v" not in X` (a value never starts with `not`).
    if (this.isWord('not')) {
      this.pos++;
      return { kind: 'not', inner: this.unary(depth + 1) };
    }
    if (this.isOp('(')) {
      this.pos++;
      const inner = this.binary('or', depth + 1);
      if (!this.isOp(')')) throw syntax('missing ")"');
      this.pos++;
      return inner;
    }
    return this.match();
  }

  private match(): Node {
    const first = this.peek();
    if (!first) throw syntax('unexpected end of expression');
    // "<value>" [not] in <selector>
    if (first.t === 'string' || first.t === 'number' || this.inAhead()) {
      const value = this.value();
      let op: Op = 'in';
      if (this.isWord('not')) {
        this.pos++;
        op = 'not in';
      }
      if (!this.isWord('in')) throw syntax(`expected "in" after the value "${value}"`);
      this.pos++;
      return { kind: 'match', path: this.selector(), op, value };
    }
    const path = this.selector();
    const t = this.peek();
    if (t?.t === 'op' && (t.v === '==' || t.v === '!=')) {
      this.pos++;
      return { kind: 'match', path, op: t.v, value: this.value() };
    }
    if (this.isWord('is')) {
      this.pos++;
      let op: Op = 'is empty';
      if (this.isWord('not')) {
        this.pos++;
        op = 'is not empty';
      }
      if (!this.isWord('empty')) throw syntax('expected "empty"');
      this.pos++;
      return { kind: 'match', path, op, value: '' };
    }
    let negate = false;
    if (this.isWord('not')) {
      this.pos++;
      negate = true;
    }
    if (this.isWord('contains') || this.isWord('matches')) {
      const word = (this.peek() as { v: string }).v;
      this.pos++;
      const value = this.value();
      if (word === 'contains')
        return { kind: 'match', path, op: negate ? 'not contains' : 'contains', value };
      let regex: RE2JS;
      try {
        regex = RE2JS.compile(value);
      } catch (err) {
        throw syntax(`invalid regular expression "${value}": ${(err as Error).message}`);
      }
      return { kind: 'match', path, op: negate ? 'not matches' : 'matches', value, regex };
    }
    throw syntax(`expected an operator after the selector "${path.join('.')}"`);
  }

  /** A bare value followed by `in` / `not in` (`primary in ServiceTags`). */
  private inAhead(): boolean {
    const t = this.peek();
    if (t?.t !== 'word' || KEYWORDS.has(t.v)) return false;
    return (
      this.isWord('in', this.pos + 1) || (this.isWord('not', this.pos + 1) && this.isWord('in', this.pos + 2))
    );
  }

  private selector(): string[] {
    const path: string[] = [];
    const first = this.peek();
    if (first?.t !== 'word' || KEYWORDS.has(first.v)) throw syntax('expected a selector');
    path.push(first.v);
    this.pos++;
    for (;;) {
      if (this.isOp('.')) {
        this.pos++;
        const t = this.peek();
        if (t?.t !== 'word' && t?.t !== 'number') throw syntax('expected a name after "."');
        path.push(t.v);
        this.pos++;
      } else if (this.isOp('[')) {
        this.pos++;
        const t = this.peek();
        if (t?.t !== 'string') throw syntax('expected a quoted key after "["');
        this.pos++;
        if (!this.isOp(']')) throw syntax('missing "]"');
        this.pos++;
        path.push(t.v);
      } else {
        return path;
      }
    }
  }

  /** A quoted string, a number (with its decimals) or a bare word (with any dotted parts). */
  private value(): string {
    const t = this.peek();
    if (!t || t.t === 'op') throw syntax('expected a value');
    this.pos++;
    if (t.t === 'string') return t.v;
    let v = t.v;
    while (this.isOp('.')) {
      const next = this.toks[this.pos + 1];
      if (next?.t !== 'word' && next?.t !== 'number') break;
      v += `.${next.v}`;
      this.pos += 2;
    }
    return v;
  }
}

// ---------------------------------------------------------------- evaluation

/** Follows `path` into `v`; a list on the way fans out (any entry). `undefined`: nothing there. */
function resolve(v: unknown, path: readonly string[], at: number, out: unknown[]): void {
  if (at === path.length) {
    out.push(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const e of v) resolve(e, path, at, out);
    return;
  }
  if (v === null || typeof v !== 'object') {
    out.push(undefined);
    return;
  }
  const key = path[at] as string;
  const next = Object.prototype.hasOwnProperty.call(v, key) ? (v as Record<string, unknown>)[key] : undefined;
  resolve(next, path, at + 1, out);
}

/** How a value reads against a boolean field (anything else matches neither true nor false). */
const BOOLEANS: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

function equals(field: unknown, value: string): boolean {
  if (typeof field === 'string') return field === value;
  if (typeof field === 'number') return value.trim() !== '' && Number(value) === field;
  if (typeof field === 'boolean') return Object.hasOwn(BOOLEANS, value) && BOOLEANS[value] === field;
  return false;
}

function holds(field: unknown, value: string): boolean {
  if (typeof field === 'string') return field.includes(value);
  if (Array.isArray(field)) return field.some((e) => equals(e, value));
  if (field !== null && typeof field === 'object') return Object.prototype.hasOwnProperty.call(field, value);
  return false;
}

function isEmpty(field: unknown): boolean {
  if (field === undefined || field === null || field === '') return true;
  if (Array.isArray(field)) return field.length === 0;
  if (typeof field === 'object') return Object.keys(field).length === 0;
  return false;
}

function positive(m: Match, field: unknown): boolean {
  switch (m.op) {
    case '==':
    case '!=':
      return equals(field, m.value);
    case 'in':
    case 'not in':
    case 'contains':
    case 'not contains':
      return holds(field, m.value);
    case 'is empty':
    case 'is not empty':
      return isEmpty(field);
    case 'matches':
    case 'not matches':
      return typeof field === 'string' && (m.regex as RE2JS).matcher(field).find();
  }
}

const NEGATED = new Set<Op>(['!=', 'not in', 'not contains', 'is not empty', 'not matches']);

function evaluate(n: Node, entry: unknown): boolean {
  switch (n.kind) {
    case 'and':
      return evaluate(n.left, entry) && evaluate(n.right, entry);
    case 'or':
      return evaluate(n.left, entry) || evaluate(n.right, entry);
    case 'not':
      return !evaluate(n.inner, entry);
    case 'match': {
      const fields: unknown[] = [];
      resolve(entry, n.path, 0, fields);
      // A list inside the selector: any of its entries (an empty list: none, so negations hold).
      if (fields.length === 0) return NEGATED.has(n.op);
      const neg = NEGATED.has(n.op);
      return fields.some((f) => positive(n, f) !== neg);
    }
  }
}

/** Compiles `?filter=`; a malformed expression is a 400 naming what is wrong. */
export function compileFilter(expression: string): Predicate {
  if (expression.length > MAX_FILTER_CHARS)
    throw badRequest(`Filter expression too long (${expression.length} characters, max ${MAX_FILTER_CHARS})`);
  const ast = new Parser(tokenize(expression)).parse();
  return (entry) => evaluate(ast, entry);
}

/**
 * Applies a filter to an answer as Consul does: the entries of a list, or the values of a map
 * (keyed by ID, as /v1/agent/services); anything else is returned as it is.
 */
export function applyFilter<T>(value: T, keep: Predicate): T {
  if (Array.isArray(value)) return value.filter((e) => keep(e)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, e]) => keep(e))) as T;
  }
  return value;
}
