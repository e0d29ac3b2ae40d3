// The ACL rules language: HCL and JSON forms of every resource, comments and escapes, errors with
// line and column, and a fuzz run: whatever the text, the parser returns rules or throws a 400.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import { parseRules, SEGMENTED } from '../../src/acl/rules.js';
import { GLOBAL_MANAGEMENT_RULES } from '../../src/acl/authorizer.js';

function err(text: string): ConsulError {
  try {
    parseRules(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConsulError);
    return e as ConsulError;
  }
  throw new Error(`parsed: ${text}`);
}

describe('HCL form', () => {
  it('parses every segmented resource, exact and prefix', () => {
    for (const r of SEGMENTED) {
      const p = parseRules(`${r} "a" { policy = "read" }\n${r}_prefix "b/" { policy = "write" }`);
      expect(p.segments).toEqual([
        { resource: r, segment: 'a', prefix: false, policy: 'read' },
        { resource: r, segment: 'b/', prefix: true, policy: 'write' },
      ]);
    }
  });

  it('parses the global resources (mesh and peering accepted)', () => {
    const p = parseRules(
      'acl = "write"\noperator = "read"\nkeyring = "deny"\nmesh = "read"\npeering = "write"',
    );
    expect(p.global).toEqual({
      acl: 'write',
      operator: 'read',
      keyring: 'deny',
      mesh: 'read',
      peering: 'write',
    });
    expect(p.segments).toEqual([]);
  });

  it('takes comments of all three kinds, commas, and string escapes', () => {
    const p = parseRules(`
      # a hash comment
      // a slash comment
      /* a block
         comment */
      key_prefix "a\\"b\\\\c\\u00e9\\n" { policy = "list", }
      service "" { policy = "write" intentions = "read" }
    `);
    expect(p.segments).toEqual([
      { resource: 'key', segment: 'a"b\\cé\n', prefix: true, policy: 'list' },
      { resource: 'service', segment: '', prefix: false, policy: 'write' },
    ]);
  });

  it('reads the nested form (key_prefix = { "a/" = { policy = ... } })', () => {
    const p = parseRules('key_prefix = { "a/" = { policy = "read" } "b/" { policy = "deny" } }');
    expect(p.segments.map((s) => [s.segment, s.policy])).toEqual([
      ['a/', 'read'],
      ['b/', 'deny'],
    ]);
  });

  it('parses the global-management policy', () => {
    const p = parseRules(GLOBAL_MANAGEMENT_RULES);
    expect(p.global.acl).toBe('write');
    expect(p.segments.filter((s) => s.prefix && s.segment === '' && s.policy === 'write')).toHaveLength(7);
  });

  it('an empty text (or only comments) grants nothing', () => {
    expect(parseRules('')).toEqual({ segments: [], global: {} });
    expect(parseRules('  # nothing\n')).toEqual({ segments: [], global: {} });
  });

  it('merges a resource given twice with deny > write > list > read', () => {
    expect(parseRules('acl = "read"\nacl = "write"').global.acl).toBe('write');
    expect(parseRules('operator = "deny"\noperator = "write"').global.operator).toBe('deny');
  });
});

describe('JSON form', () => {
  it('parses objects and lists of objects as Consul writes them', () => {
    const p = parseRules(
      JSON.stringify({
        key_prefix: { 'app/': { policy: 'write' } },
        key: [{ 'app/secret': { policy: 'deny' } }],
        service_prefix: { '': { policy: 'read', intentions: 'read' } },
        node: { n1: [{ policy: 'write' }] },
        operator: 'read',
      }),
    );
    expect(p.segments).toEqual([
      { resource: 'key', segment: 'app/', prefix: true, policy: 'write' },
      { resource: 'key', segment: 'app/secret', prefix: false, policy: 'deny' },
      { resource: 'service', segment: '', prefix: true, policy: 'read' },
      { resource: 'node', segment: 'n1', prefix: false, policy: 'write' },
    ]);
    expect(p.global).toEqual({ operator: 'read' });
  });

  it('points at the place a JSON text goes wrong', () => {
    const e = err('{\n  "key_prefix": {\n    "a": { "policy": "read" }\n  },\n}x');
    expect(e.message).toMatch(/^Failed to parse ACL rules: At 5:2: /);
  });
});

describe('errors are 400 with a position', () => {
  const cases: [string, RegExp][] = [
    ['key "a" { policy = "read" ', /At 1:27: expected "}" to close the block, got end of input/],
    [
      'key "a" {\n  policy = "bogus"\n}',
      /^Invalid key policy for "a" at 2:12: "bogus" is not one of read, list, write, deny/,
    ],
    ['service "a" { policy = "list" }', /at 1:24: "list" is not one of read, write, deny/],
    ['operator = "list"', /^Invalid operator policy at 1:12: "list"/],
    ['key "a" { }', /^Invalid key policy for "a" at 1:9: missing policy/],
    ['key "a" { policy = "read" color = "red" }', /at 1:27: unknown field "color"/],
    ['namespace "x" { policy = "read" }', /^Invalid rules at 1:1: unknown resource "namespace"/],
    ['key = "read"', /^Invalid key policy at 1:7: expected key "<name>"/],
    ['key "a" "b" { policy = "read" }', /at 1:9: a rule takes one label/],
    ['key "abc', /At 1:5: literal not terminated/],
    ['key "a\\q" { policy = "read" }', /At 1:7: invalid escape sequence/],
    ['/* open', /At 1:1: comment not terminated/],
    ['key "a" { policy = "read" } $', /At 1:29: illegal char "\$"/],
    ['operator "x" = "read"', /At 1:14: unexpected "=" after a block label/],
    ['acl = ', /At 1:7: expected a value, got end of input/],
    ['acl = true', /Invalid acl policy at 1:7: expected a string/],
  ];
  for (const [text, re] of cases) {
    it(JSON.stringify(text), () => {
      const e = err(text);
      expect(e.code).toBe(ErrorCode.BadRequest);
      expect(e.message).toMatch(re);
    });
  }
});

it('refuses deep nesting with a 400, not a stack overflow', () => {
  const e = err(`acl = ${'['.repeat(100000)}`);
  expect(e.code).toBe(ErrorCode.BadRequest);
  expect(e.message).toMatch(/At 1:\d+: nested more than 32 levels deep/);
  expect(err('{"a":'.repeat(100000)).message).toMatch(/nested more than 32 levels deep/);
});

describe('fuzz', () => {
  const tokens = fc.constantFrom(
    'key',
    'key_prefix',
    'service',
    'node_prefix',
    'operator',
    'acl',
    'policy',
    'intentions',
    '"read"',
    '"write"',
    '"list"',
    '"deny"',
    '"x/"',
    '""',
    '{',
    '}',
    '[',
    ']',
    '=',
    ':',
    ',',
    '\n',
    ' ',
    '#c\n',
    '/*',
    '*/',
    '"\\u00',
    '\\',
    'true',
    '1.5',
  );

  it('never throws anything but a ConsulError 400 (grammar-shaped input)', () => {
    fc.assert(
      fc.property(fc.array(tokens, { maxLength: 40 }), (parts) => {
        try {
          parseRules(parts.join(' '));
        } catch (e) {
          if (!(e instanceof ConsulError) || e.code !== ErrorCode.BadRequest) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws anything but a ConsulError 400 (arbitrary text)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          parseRules(s);
        } catch (e) {
          if (!(e instanceof ConsulError) || e.code !== ErrorCode.BadRequest) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('parses back what it would print (valid rule sets round-trip)', () => {
    const rule = fc.record({
      r: fc.constantFrom(...SEGMENTED),
      prefix: fc.boolean(),
      seg: fc.string({ maxLength: 12 }),
      policy: fc.constantFrom('read', 'write', 'deny'),
    });
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 8 }), (rules) => {
        const text = rules
          .map(
            (x) => `${x.r}${x.prefix ? '_prefix' : ''} ${JSON.stringify(x.seg)} { policy = "${x.policy}" }`,
          )
          .join('\n');
        const p = parseRules(text);
        expect(p.segments).toEqual(
          rules.map((x) => ({ resource: x.r, segment: x.seg, prefix: x.prefix, policy: x.policy })),
        );
      }),
      { numRuns: 1000 },
    );
  });
});
