// -log-file: Consul's names, rotation by size and by age, max files kept, nothing lost.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  filesToPrune,
  logFileTarget,
  RotatingLogFile,
  rotatedName,
  rotatedTime,
  rotationDue,
} from '../../src/core/log-file.js';
import { LogHub } from '../../src/core/logger.js';
import { validateConfig } from '../../src/config/config.js';
import { applyConfigObject, loadAgentConfig } from '../../src/config/load.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'logfile-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Rotated files oldest first, then the live file: the order the lines were written in. */
function filesInOrder(dir: string, name: string): string[] {
  const rotated = readdirSync(dir)
    .filter((f) => rotatedTime(name, f) !== null)
    .sort((a, b) => (rotatedTime(name, a)! < rotatedTime(name, b)! ? -1 : 1));
  return [...rotated, name];
}

describe('log file names (Consul)', () => {
  it('a directory gets consul.log; a file keeps its name', () => {
    expect(logFileTarget('/var/log/consul/')).toEqual({ dir: '/var/log/consul', name: 'consul.log' });
    expect(logFileTarget('/var/log/agent.log')).toEqual({ dir: '/var/log', name: 'agent.log' });
    expect(logFileTarget('logs/agent')).toEqual({ dir: 'logs', name: 'agent' });
  });

  it('rotated files carry the time before the extension; .log when there is none', () => {
    expect(rotatedName('consul.log', 1733400000000000000n)).toBe('consul-1733400000000000000.log');
    expect(rotatedName('agent', 5n)).toBe('agent-5.log');
    expect(rotatedName('a.json', 7n)).toBe('a-7.json');
    expect(rotatedTime('consul.log', 'consul-12.log')).toBe(12n);
    expect(rotatedTime('consul.log', 'consul.log')).toBeNull();
    expect(rotatedTime('consul.log', 'consul-x.log')).toBeNull();
    expect(rotatedTime('consul.log', 'other-12.log')).toBeNull();
  });

  it('pruning keeps the newest N rotated files, all with 0, none with -1', () => {
    const files = ['consul.log', 'consul-30.log', 'consul-100.log', 'consul-20.log', 'unrelated.txt'];
    expect(filesToPrune('consul.log', files, 2)).toEqual(['consul-20.log']);
    expect(filesToPrune('consul.log', files, 1)).toEqual(['consul-20.log', 'consul-30.log']);
    expect(filesToPrune('consul.log', files, 0)).toEqual([]);
    expect(filesToPrune('consul.log', files, -1)).toEqual([
      'consul-20.log',
      'consul-30.log',
      'consul-100.log',
    ]);
    expect(filesToPrune('consul.log', files, 5)).toEqual([]);
  });

  it('rotation is due at the byte limit (if any) or the age limit', () => {
    const o = { rotateBytes: 100, rotateDurationMs: 1000 };
    expect(rotationDue(o, 99, 999)).toBe(false);
    expect(rotationDue(o, 100, 0)).toBe(true);
    expect(rotationDue(o, 0, 1000)).toBe(true);
    expect(rotationDue({ rotateBytes: 0, rotateDurationMs: 1000 }, 1e9, 10)).toBe(false);
  });
});

describe('RotatingLogFile', () => {
  it('rotates by size: files appear, max files is respected, every line is kept in order', () => {
    const dir = tempDir();
    const f = new RotatingLogFile({
      path: `${dir}/`,
      rotateBytes: 200,
      rotateDurationMs: 3_600_000,
      maxFiles: 3,
    });
    const lines = Array.from(
      { length: 60 },
      (_, i) => `line ${String(i).padStart(3, '0')} ${'x'.repeat(20)}\n`,
    );
    // Without pruning first, to check that nothing is lost across rotations.
    const all = new RotatingLogFile({
      path: join(dir, 'all', 'agent.log'),
      rotateBytes: 200,
      rotateDurationMs: 3_600_000,
      maxFiles: 0,
    });
    for (const l of lines) {
      f.write(l);
      all.write(l);
    }
    f.close();
    all.close();

    const allDir = join(dir, 'all');
    const allFiles = filesInOrder(allDir, 'agent.log');
    // 60 lines of 30 bytes at 200 bytes a file: 7 lines a file, so 9 files.
    expect(allFiles.length).toBe(9);
    for (const name of allFiles) expect(readFileSync(join(allDir, name)).length).toBeLessThanOrEqual(210);
    expect(allFiles.map((n) => readFileSync(join(allDir, n), 'utf8')).join('')).toBe(lines.join(''));

    const kept = readdirSync(dir).filter((n) => n !== 'all');
    expect(kept).toContain('consul.log');
    expect(kept.filter((n) => rotatedTime('consul.log', n) !== null).length).toBe(3);
    // What is kept is the newest: the last lines written, in order, without a gap.
    const tail = filesInOrder(dir, 'consul.log')
      .map((n) => readFileSync(join(dir, n), 'utf8'))
      .join('');
    expect(lines.join('').endsWith(tail)).toBe(true);
    expect(tail.split('\n').filter(Boolean).length).toBe(60 - 5 * 7);
  });

  it('rotates by age on the next write; -1 keeps no rotated file', () => {
    const dir = tempDir();
    let now = 1_000_000;
    const f = new RotatingLogFile(
      { path: join(dir, 'a.log'), rotateBytes: 0, rotateDurationMs: 60_000, maxFiles: 0 },
      () => now,
    );
    f.write('one\n');
    now += 59_999;
    f.write('two\n');
    expect(readdirSync(dir)).toEqual(['a.log']);
    now += 1;
    f.write('three\n');
    const rotated = readdirSync(dir).filter((n) => n !== 'a.log');
    expect(rotated).toEqual([`a-${BigInt(now) * 1_000_000n}.log`]);
    expect(readFileSync(join(dir, rotated[0]!), 'utf8')).toBe('one\ntwo\n');
    expect(readFileSync(join(dir, 'a.log'), 'utf8')).toBe('three\n');
    f.close();

    const g = new RotatingLogFile(
      { path: join(dir, 'b.log'), rotateBytes: 4, rotateDurationMs: 60_000, maxFiles: -1 },
      () => now,
    );
    for (const l of ['1111\n', '2222\n', '3333\n']) g.write(l);
    g.close();
    expect(readdirSync(dir).filter((n) => n.startsWith('b'))).toEqual(['b.log']);
    expect(readFileSync(join(dir, 'b.log'), 'utf8')).toBe('3333\n');
  });

  it('the live file starts empty (the agent is its only writer)', () => {
    const dir = tempDir();
    const o = { path: join(dir, 'c.log'), rotateBytes: 0, rotateDurationMs: 60_000, maxFiles: 0 };
    const a = new RotatingLogFile(o);
    a.write('old run\n');
    a.close();
    const b = new RotatingLogFile(o);
    b.open();
    b.write('new run\n');
    b.close();
    expect(readFileSync(join(dir, 'c.log'), 'utf8')).toBe('new run\n');
  });

  it('secrets are redacted in the file as on stdout', () => {
    const dir = tempDir();
    const f = new RotatingLogFile({ path: `${dir}/`, rotateBytes: 0, rotateDurationMs: 60_000, maxFiles: 0 });
    const hub = new LogHub('info', [{ json: false, write: (l) => f.write(l) }]);
    hub.logger.info(
      { token: 'very-secret-token', req: { headers: { 'x-consul-token': 'hdr-secret' } } },
      'hello',
    );
    hub.logger.debug('not at info');
    f.close();
    const text = readFileSync(join(dir, 'consul.log'), 'utf8');
    expect(text).toContain('hello');
    expect(text).toContain('[Redacted]');
    expect(text).not.toContain('very-secret-token');
    expect(text).not.toContain('hdr-secret');
    expect(text).not.toContain('not at info');
  });
});

describe('log file settings', () => {
  it("flags and config keys, with Consul's defaults", () => {
    const d = loadAgentConfig(['-dev']);
    expect([d.logFile, d.logRotateBytes, d.logRotateDurationMs, d.logRotateMaxFiles]).toEqual([
      '',
      0,
      24 * 3_600_000,
      0,
    ]);
    const f = loadAgentConfig([
      '-dev',
      '-log-file=/var/log/consulate/',
      '-log-rotate-bytes=1048576',
      '-log-rotate-duration=1h',
      '-log-rotate-max-files=-1',
    ]);
    expect([f.logFile, f.logRotateBytes, f.logRotateDurationMs, f.logRotateMaxFiles]).toEqual([
      '/var/log/consulate/',
      1048576,
      3_600_000,
      -1,
    ]);
    const k = loadAgentConfig(['-dev']);
    applyConfigObject(
      k,
      { log_file: 'a.log', log_rotate_bytes: 10, log_rotate_duration: '30m', log_rotate_max_files: 4 },
      'test',
    );
    expect([k.logFile, k.logRotateBytes, k.logRotateDurationMs, k.logRotateMaxFiles]).toEqual([
      'a.log',
      10,
      1_800_000,
      4,
    ]);
  });

  it('refuses values that mean nothing', () => {
    const bad: [string, string][] = [
      ['-log-rotate-bytes=-1', 'log_rotate_bytes'],
      ['-log-rotate-max-files=-2', 'log_rotate_max_files'],
      ['-log-rotate-duration=10ms', 'log_rotate_duration'],
    ];
    for (const [flag, msg] of bad) {
      const c = loadAgentConfig(['-dev', flag]);
      c.nodeName = 'n';
      expect(() => validateConfig(c)).toThrow(msg);
    }
    expect(() => loadAgentConfig(['-dev', '-log-rotate-bytes=lots'])).toThrow('expected an integer');
  });
});
