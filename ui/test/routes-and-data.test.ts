// The UI's pure parts: routes to and from URLs, the services filter, KV folders and values, health
// ranking and the windowed-rows arithmetic.
import { describe, expect, it } from 'vitest';
import { inDatacenter, parseRoute, routePath, type Route } from '../src/router.js';
import { allTags, filterInstances, filterServices } from '../src/filter.js';
import { decodeValue, folderOf, jsonError, kvItems, parentPrefixes } from '../src/kv.js';
import { summaryHealth, worst } from '../src/health.js';
import { computeWindow } from '../src/components/rowWindow.js';
import type { CheckStatus, ServiceInstance, ServiceSummary } from '../src/types.js';

describe('routes', () => {
  const cases: [string, Route][] = [
    ['/ui/', { kind: 'root' }],
    ['/ui/dc1/services', { kind: 'services', dc: 'dc1' }],
    ['/ui/dc1/services/web%2Fv2', { kind: 'service', dc: 'dc1', name: 'web/v2' }],
    ['/ui/dc2/nodes', { kind: 'nodes', dc: 'dc2' }],
    ['/ui/dc2/nodes/node%201', { kind: 'node', dc: 'dc2', node: 'node 1' }],
    ['/ui/dc1/kv/', { kind: 'kv', dc: 'dc1', prefix: '' }],
    ['/ui/dc1/kv/a/b/', { kind: 'kv', dc: 'dc1', prefix: 'a/b/' }],
    ['/ui/dc1/kv/a/b/edit', { kind: 'kv-edit', dc: 'dc1', key: 'a/b' }],
    ['/ui/dc1/kv/edit/edit', { kind: 'kv-edit', dc: 'dc1', key: 'edit' }],
    ['/ui/dc1/kv/a/edit/', { kind: 'kv', dc: 'dc1', prefix: 'a/edit/' }],
    ['/ui/dc1/kv/sp%20ace%3F/edit', { kind: 'kv-edit', dc: 'dc1', key: 'sp ace?' }],
    ['/ui/dc1/settings', { kind: 'settings', dc: 'dc1' }],
  ];
  it.each(cases)('%s', (path, route) => {
    expect(parseRoute(path)).toEqual(route);
    expect(routePath(route)).toBe(path);
  });
  it('a bare folder path and unknown pages', () => {
    expect(parseRoute('/ui/dc1/kv/a')).toEqual({ kind: 'kv', dc: 'dc1', prefix: 'a/' });
    expect(parseRoute('/ui/dc1')).toEqual({ kind: 'services', dc: 'dc1' });
    expect(parseRoute('/ui/dc1/services/a/b').kind).toBe('not-found');
    expect(parseRoute('/ui/dc1/bogus').kind).toBe('not-found');
    expect(parseRoute('/ui/dc1/kv/%E0%A4%A/edit').kind).toBe('not-found');
  });
  it('switching datacenter keeps the section, not the named thing', () => {
    expect(inDatacenter({ kind: 'service', dc: 'dc1', name: 'web' }, 'dc2')).toEqual({
      kind: 'services',
      dc: 'dc2',
    });
    expect(inDatacenter({ kind: 'kv-edit', dc: 'dc1', key: 'a/b' }, 'dc2')).toEqual({
      kind: 'kv',
      dc: 'dc2',
      prefix: '',
    });
  });
});

const svc = (Name: string, Tags: string[], p: number, w: number, c: number): ServiceSummary => ({
  Name,
  Datacenter: 'dc1',
  Tags,
  Nodes: [],
  ExternalSources: null,
  InstanceCount: 1,
  ChecksPassing: p,
  ChecksWarning: w,
  ChecksCritical: c,
});

describe('services filter', () => {
  const list = [
    svc('web', ['http', 'v2'], 2, 0, 1),
    svc('Webhook', ['http'], 1, 1, 0),
    svc('db', [], 0, 0, 0),
  ];
  it('by name (case-insensitive substring), tag and status', () => {
    const names = (f: Parameters<typeof filterServices>[1]): string[] =>
      filterServices(list, f).map((s) => s.Name);
    expect(names({ name: 'WEB', tag: '', status: '' })).toEqual(['web', 'Webhook']);
    expect(names({ name: '', tag: 'v2', status: '' })).toEqual(['web']);
    expect(names({ name: '', tag: '', status: 'critical' })).toEqual(['web']);
    expect(names({ name: '', tag: '', status: 'warning' })).toEqual(['Webhook']);
    expect(names({ name: 'hook', tag: 'http', status: 'passing' })).toEqual(['Webhook']);
    expect(names({ name: 'x', tag: '', status: '' })).toEqual([]);
    expect(allTags(list)).toEqual(['http', 'v2']);
  });
  it('health: the worst status wins, no checks is its own state', () => {
    expect(list.map(summaryHealth)).toEqual(['critical', 'warning', 'none']);
    expect(worst(['passing', 'warning', 'passing'])).toBe('warning');
    expect(worst([])).toBe('none');
  });
});

describe('service instances filter', () => {
  const inst = (id: string, node: string, address: string, statuses: CheckStatus[]): ServiceInstance => ({
    Node: { Node: node, Address: '10.0.0.9', Datacenter: 'dc1' },
    Service: {
      ID: id,
      Service: 'web',
      Tags: [],
      Address: address,
      Port: 80,
      Meta: {},
    },
    Checks: statuses.map((Status, n) => ({
      Node: node,
      CheckID: `c${n}`,
      Name: `c${n}`,
      Status,
      Output: '',
      ServiceID: id,
      ServiceName: 'web',
    })),
  });
  const list = [
    inst('web-1', 'alpha', '10.1.0.1', ['passing']),
    inst('web-2', 'beta', '', ['passing', 'critical']),
    inst('WEB-3', 'gamma', '10.1.0.3', ['warning']),
    inst('web-4', 'delta', '10.1.0.4', []),
  ];
  const ids = (f: Parameters<typeof filterInstances>[1]): string[] =>
    filterInstances(list, f).map((i) => i.Service.ID);
  it('by ID, node or address (case-insensitive substring), the node address standing in for none', () => {
    expect(ids({ text: '', status: '' })).toEqual(['web-1', 'web-2', 'WEB-3', 'web-4']);
    expect(ids({ text: ' web-3 ', status: '' })).toEqual(['WEB-3']);
    expect(ids({ text: 'BETA', status: '' })).toEqual(['web-2']);
    expect(ids({ text: '10.1.0.', status: '' })).toEqual(['web-1', 'WEB-3', 'web-4']);
    expect(ids({ text: '10.0.0.9', status: '' })).toEqual(['web-2']);
    expect(ids({ text: 'nothing', status: '' })).toEqual([]);
  });
  it('by health: the worst of the instance\u2019s checks', () => {
    expect(ids({ text: '', status: 'passing' })).toEqual(['web-1']);
    expect(ids({ text: '', status: 'critical' })).toEqual(['web-2']);
    expect(ids({ text: '', status: 'warning' })).toEqual(['WEB-3']);
    expect(ids({ text: 'web-1', status: 'critical' })).toEqual([]);
  });
});

describe('key/value', () => {
  it('a folder lists sub-folders first, without its own marker key', () => {
    expect(kvItems('a/', ['a/', 'a/z', 'a/b/', 'a/c'])).toEqual([
      { path: 'a/b/', name: 'b/', folder: true },
      { path: 'a/c', name: 'c', folder: false },
      { path: 'a/z', name: 'z', folder: false },
    ]);
  });
  it('breadcrumbs and parent folders', () => {
    expect(parentPrefixes('a/b/')).toEqual(['a/', 'a/b/']);
    expect(parentPrefixes('')).toEqual([]);
    expect(folderOf('a/b/c')).toBe('a/b/');
    expect(folderOf('c')).toBe('');
    expect(folderOf('a/b/')).toBe('a/');
  });
  it('values: UTF-8 text, or base64 said to be binary; JSON checked', () => {
    expect(decodeValue(btoa('héllo'.replace(/é/, '\u00c3\u00a9')))).toEqual({ text: 'héllo', binary: false });
    expect(decodeValue(null)).toEqual({ text: '', binary: false });
    expect(decodeValue(btoa('\u00ff\u00fe'))).toEqual({ text: '//4=', binary: true });
    expect(jsonError('{"a": 1}')).toBeNull();
    expect(jsonError('{"a": ')).toMatch(/JSON|Unexpected|end/i);
  });
});

describe('windowed rows', () => {
  it('renders the rows in view plus a margin, with spacers for the rest', () => {
    // Table body 1000 px below the top of the page, scrolled to its top: rows 0..(800/40 + 20).
    expect(computeWindow(5000, 0, 800, 40)).toEqual({ start: 0, end: 40, before: 0, after: 4960 * 40 });
    // Scrolled 4,000 px into the body: row 100 is at the top of the viewport.
    const w = computeWindow(5000, -4000, 800, 40);
    expect(w).toEqual({ start: 80, end: 140, before: 80 * 40, after: 4860 * 40 });
    // Past the end: never beyond the list.
    const end = computeWindow(100, -1_000_000, 800, 40);
    expect(end.end).toBe(100);
    expect(end.before + (end.end - end.start) * 40 + end.after).toBe(100 * 40);
  });
});
