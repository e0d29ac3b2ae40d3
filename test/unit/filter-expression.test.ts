// Consul's ?filter= language (src/core/filter-expression.ts) on entries shaped like the API's:
// every operator, selectors into maps and through lists, values of each type, precedence, and
// malformed or hostile expressions refused with a 400, never a throw of anything else or a hang.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { MAX_FILTER_CHARS, applyFilter, compileFilter } from '../../src/core/filter-expression.js';

const web1 = {
  Node: { Node: 'web-1', Address: '10.0.0.1', Meta: { env: 'prod', 'rack-id': 'r1' } },
  Service: {
    ID: 'web-1',
    Service: 'web',
    Tags: ['primary', 'v2'],
    Port: 8080,
    Meta: { version: '2' },
    EnableTagOverride: false,
  },
  Checks: [
    { CheckID: 'serfHealth', Status: 'passing', Output: 'Agent alive and reachable' },
    { CheckID: 'web-http', Status: 'critical', Output: 'connection refused' },
  ],
};
const web2 = {
  Node: { Node: 'web-2', Address: '10.0.0.2', Meta: {} },
  Service: { ID: 'web-2', Service: 'web', Tags: [], Port: 9090, Meta: null, EnableTagOverride: true },
  Checks: [{ CheckID: 'serfHealth', Status: 'passing', Output: '' }],
};
const all = [web1, web2];

/** Which of web-1 and web-2 the expression keeps. */
const kept = (expr: string): string[] => applyFilter(all, compileFilter(expr)).map((e) => e.Node.Node);

describe('filter expressions', () => {
  it('== and != on strings, numbers and booleans, with quoted, raw and bare values', () => {
    expect(kept('Node.Node == "web-1"')).toEqual(['web-1']);
    expect(kept('Node.Node == `web-2`')).toEqual(['web-2']);
    expect(kept('Node.Node != web-1')).toEqual(['web-2']);
    expect(kept('Node.Address == 10.0.0.2')).toEqual(['web-2']);
    expect(kept('Service.Port == 8080')).toEqual(['web-1']);
    expect(kept('Service.Port == "9090"')).toEqual(['web-2']);
    expect(kept('Service.Port != 8080')).toEqual(['web-2']);
    expect(kept('Service.EnableTagOverride == true')).toEqual(['web-2']);
    expect(kept('Service.EnableTagOverride == false')).toEqual(['web-1']);
    expect(kept('Service.EnableTagOverride == maybe')).toEqual([]);
  });

  it('in / contains: an element of a list, a key of a map, a substring', () => {
    expect(kept('"primary" in Service.Tags')).toEqual(['web-1']);
    expect(kept('primary in Service.Tags')).toEqual(['web-1']);
    expect(kept('Service.Tags contains "v2"')).toEqual(['web-1']);
    expect(kept('"v2" not in Service.Tags')).toEqual(['web-2']);
    expect(kept('Service.Tags not contains v2')).toEqual(['web-2']);
    expect(kept('"env" in Node.Meta')).toEqual(['web-1']);
    expect(kept('Node.Node contains "-2"')).toEqual(['web-2']);
  });

  it('is empty / is not empty: "", [], {}, null and a missing field are empty', () => {
    expect(kept('Service.Tags is empty')).toEqual(['web-2']);
    expect(kept('Node.Meta is empty')).toEqual(['web-2']);
    expect(kept('Service.Meta is not empty')).toEqual(['web-1']);
    expect(kept('Service.Nothing is empty')).toEqual(['web-1', 'web-2']);
  });

  it('matches: RE2 syntax, unanchored unless anchored', () => {
    expect(kept('Node.Node matches "^web-[0-9]$"')).toEqual(['web-1', 'web-2']);
    expect(kept('Node.Node matches "2"')).toEqual(['web-2']);
    expect(kept('Node.Node not matches "1$"')).toEqual(['web-2']);
  });

  it('map keys by name or ["key"], and a list inside a selector matches when any entry does', () => {
    expect(kept('Node.Meta.env == prod')).toEqual(['web-1']);
    expect(kept('Node.Meta["rack-id"] == "r1"')).toEqual(['web-1']);
    expect(kept('Service.Meta.version == "2"')).toEqual(['web-1']);
    expect(kept('Checks.Status == critical')).toEqual(['web-1']);
    expect(kept('Checks.Status != passing')).toEqual(['web-1']);
    expect(kept('Checks.Output contains refused')).toEqual(['web-1']);
    // A selector that names nothing: no match, and its negation matches everything.
    expect(kept('Node.Missing == x')).toEqual([]);
    expect(kept('Node.Missing != x')).toEqual(['web-1', 'web-2']);
  });

  it('and binds tighter than or; not and parentheses as expected', () => {
    expect(kept('Node.Node == web-2 or Service.Port == 8080 and Node.Meta.env == test')).toEqual(['web-2']);
    expect(kept('(Node.Node == web-2 or Service.Port == 8080) and Node.Meta.env == prod')).toEqual(['web-1']);
    expect(kept('not Node.Node == web-1')).toEqual(['web-2']);
    expect(kept('not (Service.Tags is empty or Node.Meta is empty)')).toEqual(['web-1']);
    expect(kept('  Node.Node==web-1  ')).toEqual(['web-1']);
  });

  it('filters the values of a map, and leaves other answers as they are', () => {
    const keep = compileFilter('Service == web');
    expect(applyFilter({ a: { Service: 'web' }, b: { Service: 'db' } }, keep)).toEqual({
      a: { Service: 'web' },
    });
    expect(applyFilter(null, keep)).toBeNull();
  });

  it('refuses malformed expressions with a 400 that says what is wrong', () => {
    for (const bad of [
      '',
      'Node.Node',
      'Node.Node ==',
      'Node.Node = web',
      '== web',
      '(Node.Node == a',
      'Node.Node == a)',
      'Node.Node == "unterminated',
      'Node.Meta[env] == x',
      'Node.Node is full',
      '"v" Service.Tags',
      'Node.Node == a and',
      'Node.Node matches "("',
      'Node.Node ~ x',
      '('.repeat(100) + 'Node.Node == a' + ')'.repeat(100),
      'Node.Node == ' + 'x'.repeat(MAX_FILTER_CHARS),
    ]) {
      let err: unknown;
      try {
        compileFilter(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad.slice(0, 40)).toBeInstanceOf(ConsulError);
      expect((err as ConsulError).code).toBe(ErrorCode.BadRequest);
    }
    expect(() => compileFilter('Node.Node matches "("')).toThrow(
      /Failed to create boolean expression evaluator/,
    );
  });

  it('a regular expression that backtracks without end elsewhere runs in linear time here', () => {
    const entry = { Node: 'a'.repeat(20_000) };
    expect(compileFilter('Node matches "(a+)+b"')(entry)).toBe(false);
    expect(compileFilter('Node matches "^(a|aa)+$"')(entry)).toBe(true);
  });

  it('any string compiles to a filter or is refused with a 400, and a filter never throws', () => {
    const words = fc.constantFrom(
      'Node',
      '.',
      'Meta',
      '==',
      '!=',
      '"x"',
      'in',
      'not',
      'and',
      'or',
      'is',
      'empty',
      'contains',
      'matches',
      '(',
      ')',
      '[',
      ']',
      '`y`',
      '7',
      ' ',
    );
    const input = fc.oneof(
      fc.string(),
      fc.array(words, { maxLength: 12 }).map((w) => w.join(' ')),
    );
    fc.assert(
      fc.property(input, (src) => {
        let keep: (e: unknown) => boolean;
        try {
          keep = compileFilter(src);
        } catch (e) {
          expect(e).toBeInstanceOf(ConsulError);
          expect((e as ConsulError).code).toBe(ErrorCode.BadRequest);
          return;
        }
        for (const e of [...all, null, 'text', 3, { Node: [1, { Meta: null }] }]) keep(e);
      }),
      { numRuns: 5000 },
    );
  });
});
