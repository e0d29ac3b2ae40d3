// The agent features the container image relies on: a host name in -advertise / -advertise-wan
// (a container on two networks names its address by a network alias), the ready file of the
// image's health check, and the member snapshot a restarted container rejoins from.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemberSnapshot } from '../../src/agent/member-snapshot.js';
import { readyFile } from '../../src/cli/ready-file.js';
import type { Member } from '../../src/gossip/types.js';
import { resolveAdvertiseNames } from '../../src/server/net.js';

const dir = mkdtempSync(join(tmpdir(), 'consulate-ready-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('advertise addresses given as host names', () => {
  it('resolves a name to its IPv4 address once, and leaves addresses and empty values alone', async () => {
    const c = { advertiseAddr: 'localhost', advertiseAddrWan: '' };
    await resolveAdvertiseNames(c);
    expect(c).toEqual({ advertiseAddr: '127.0.0.1', advertiseAddrWan: '' });
    const d = { advertiseAddr: '10.0.0.1', advertiseAddrWan: 'localhost' };
    await resolveAdvertiseNames(d);
    expect(d).toEqual({ advertiseAddr: '10.0.0.1', advertiseAddrWan: '127.0.0.1' });
  });
});

describe('the ready file', () => {
  it('removes a stale file at start, writes it when ready, removes it on the way out', () => {
    const path = join(dir, 'ready');
    writeFileSync(path, 'from the last run\n');
    const r = readyFile(path);
    expect(existsSync(path)).toBe(false);
    r.ready();
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    r.clear();
    expect(existsSync(path)).toBe(false);
  });

  it('does nothing without a path (outside the image)', () => {
    const r = readyFile('');
    expect(() => {
      r.ready();
      r.clear();
    }).not.toThrow();
  });
});

describe('the LAN member snapshot', () => {
  const member = (name: string, addr: string, status: Member['status']): Member => ({
    name,
    addr,
    port: 8301,
    tags: {},
    incarnation: 1,
    status,
    since: 0,
  });

  it('keeps the other alive members, reads them back, and is forgotten after a leave', async () => {
    const file = join(dir, 'serf', 'local.members');
    const list = [
      member('self', '10.0.0.1', 'alive'),
      member('b', '10.0.0.3', 'alive'),
      member('a', '10.0.0.2', 'alive'),
      member('gone', '10.0.0.4', 'failed'),
    ];
    const snap = new MemberSnapshot(file, 'self', () => list, pino({ level: 'silent' }));
    expect(snap.load()).toEqual([]);
    snap.changed();
    snap.changed(); // one write per burst
    await new Promise((r) => setTimeout(r, 1200));
    expect(snap.load()).toEqual(['10.0.0.2:8301', '10.0.0.3:8301']);
    snap.close(true);
    expect(existsSync(file)).toBe(false);
  });
});
