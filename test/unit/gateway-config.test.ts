// consulate gateway's configuration: defaults, JSON config files, flags over files, errors.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig, parseServerAddr } from '../../src/gateway/config.js';
import { main } from '../../src/cli/main.js';

describe('gateway config', () => {
  it('has defaults: port 8080 on 127.0.0.1, the local agent at 127.0.0.1:8500', () => {
    const c = loadGatewayConfig([]);
    expect(c).toMatchObject({
      port: 8080,
      clientAddr: '127.0.0.1',
      servers: ['127.0.0.1:8500'],
      datacenter: undefined,
      domain: 'consul',
      maxAttempts: 3,
      blockingWaitMs: 300_000,
    });
  });

  it('reads a config file, and flags win over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    const f = join(dir, 'gw.json');
    writeFileSync(
      f,
      JSON.stringify({
        datacenter: 'dc2',
        client_addr: '0.0.0.0',
        ports: { http: 9090 },
        servers: ['127.0.0.1:8501', 'http://127.0.0.1:8502/'],
        log_level: 'warning',
        domain: 'example',
        max_attempts: 2,
        blocking_wait: '1m',
        idle_timeout: '30s',
        down_time: '5s',
        connect_timeout: '2s',
      }),
    );
    const c = loadGatewayConfig([`-config-file=${f}`]);
    expect(c).toMatchObject({
      datacenter: 'dc2',
      clientAddr: '0.0.0.0',
      port: 9090,
      servers: ['127.0.0.1:8501', '127.0.0.1:8502'],
      logLevel: 'warn',
      domain: 'example',
      maxAttempts: 2,
      blockingWaitMs: 60_000,
      idleTimeoutMs: 30_000,
      downTimeMs: 5000,
      connectTimeoutMs: 2000,
    });
    const o = loadGatewayConfig([
      '-config-file',
      f,
      '-http-port=0',
      '-datacenter',
      'dc3',
      '-server',
      '10.0.0.1',
      '-server=[::1]:8600',
      '-bind',
      '127.0.0.2',
    ]);
    expect(o).toMatchObject({
      port: 0,
      datacenter: 'dc3',
      servers: ['10.0.0.1:8500', '[::1]:8600'],
      clientAddr: '127.0.0.2',
    });
  });

  it('refuses unknown keys and flags, bad values, bad addresses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    const f = join(dir, 'gw.json');
    writeFileSync(f, JSON.stringify({ colour: 'blue' }));
    expect(() => loadGatewayConfig([`-config-file=${f}`])).toThrow('unknown config key "colour"');
    expect(() => loadGatewayConfig(['-nope'])).toThrow('unknown flag: -nope');
    expect(() => loadGatewayConfig(['-http-port=70000'])).toThrow('-http-port');
    expect(() => loadGatewayConfig(['-datacenter=dc 1'])).toThrow('invalid datacenter name');
    expect(() => parseServerAddr('a b:1', 'x')).toThrow('invalid agent address');
    expect(() => parseServerAddr('host:0', 'x')).toThrow('invalid agent address');
    expect(parseServerAddr('fe80::1', 'x')).toBe('[fe80::1]:8500');
    expect(parseServerAddr('https://10.0.0.5', 'x')).toBe('https://10.0.0.5:8501');
    expect(parseServerAddr('HTTPS://h:9501/', 'x')).toBe('https://h:9501');
  });

  it('is a consulate command with its own help', async () => {
    let out = '';
    const io = {
      out: (s: string) => (out += s),
      err: (s: string) => (out += s),
      stdin: async () => Buffer.alloc(0),
      env: {},
    };
    expect(await main(['gateway', '-h'], io)).toBe(0);
    expect(out).toContain('-server');
    out = '';
    expect(await main(['gateway', '-bogus'], io)).toBe(1);
    expect(out).toContain('unknown flag: -bogus');
    out = '';
    await main(['help'], io);
    expect(out).toContain('gateway');
  });
});
