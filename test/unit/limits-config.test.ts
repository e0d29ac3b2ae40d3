// The limits block and http_config timeouts as config files give them, their checks, and the start
// warning when the HTTP API is reachable beyond loopback with nothing controlling access.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { applyDev, defaultConfig, exposedApiWarning, isLoopback } from '../../src/config/config.js';
import { configWith } from '../support/config.js';

describe('limits configuration', () => {
  it("has Consul's defaults", () => {
    const c = configWith({});
    expect(c.limits).toEqual({
      httpMaxConnsPerClient: 200,
      rpcMaxConnsPerClient: 100,
      rpcHandshakeTimeoutMs: 5000,
      httpsHandshakeTimeoutMs: 5000,
    });
    expect(c.httpTimeouts).toEqual({
      readHeaderTimeoutMs: 10_000,
      readTimeoutMs: 60_000,
      idleTimeoutMs: 30_000,
    });
  });

  it('reads the limits block and http_config timeouts', () => {
    const c = configWith({
      limits: {
        http_max_conns_per_client: 500,
        rpc_max_conns_per_client: 0,
        rpc_handshake_timeout: '2s',
        https_handshake_timeout: '3s',
      },
      http_config: { read_header_timeout: '5s', read_timeout: '30s', idle_timeout: '1m' },
    });
    expect(c.limits).toEqual({
      httpMaxConnsPerClient: 500,
      rpcMaxConnsPerClient: 0,
      rpcHandshakeTimeoutMs: 2000,
      httpsHandshakeTimeoutMs: 3000,
    });
    expect(c.httpTimeouts).toEqual({
      readHeaderTimeoutMs: 5000,
      readTimeoutMs: 30_000,
      idleTimeoutMs: 60_000,
    });
  });

  it('refuses unknown keys and impossible values with the key named', () => {
    expect(() => configWith({ limits: { http_max_conns: 1 } })).toThrow('unknown key "http_max_conns"');
    expect(() => configWith({ limits: { http_max_conns_per_client: -1 } })).toThrow(
      'limits.http_max_conns_per_client must be 0',
    );
    expect(() => configWith({ limits: { rpc_handshake_timeout: '0s' } })).toThrow(
      'limits.rpc_handshake_timeout must be at least 100ms',
    );
    expect(() => configWith({ http_config: { read_header_timeout: '2m' } })).toThrow(
      'read_header_timeout cannot be longer than http_config.read_timeout',
    );
  });
});

describe('the exposed-API warning', () => {
  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopback(a)).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', '128.0.0.1'])
      expect(isLoopback(a)).toBe(false);
  });

  it('warns only when the API listens beyond loopback', () => {
    const c = defaultConfig();
    expect(exposedApiWarning(c)).toBeNull();
    c.clientAddr = '0.0.0.0';
    expect(exposedApiWarning(c)).toContain(
      'the HTTP API listens on 0.0.0.0 (http 8500), beyond loopback, and ACLs are off',
    );
    c.ports.http = -1;
    expect(exposedApiWarning(c)).toBeNull();
  });

  it('is quiet with ACLs on and default deny, and still warns with default allow', () => {
    const c = defaultConfig();
    c.clientAddr = '0.0.0.0';
    c.acl.enabled = true;
    c.acl.defaultPolicy = 'allow';
    expect(exposedApiWarning(c)).toContain('beyond loopback, and ACLs default to allow');
    c.acl.defaultPolicy = 'deny';
    expect(exposedApiWarning(c)).toBeNull();
  });

  it('is logged once at start by an agent whose API listens on 0.0.0.0', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const c = defaultConfig();
    applyDev(c);
    c.nodeName = 'exposed';
    c.clientAddr = '0.0.0.0';
    c.ports.http = 0;
    c.ports.dns = -1;
    c.ports.server = 0;
    c.ports.serfLan = 0;
    c.ports.serfWan = -1;
    const agent = new Agent(c, pino({ level: 'warn' }, sink));
    await agent.start();
    try {
      const warnings = lines.filter((l) => l.includes('beyond loopback, and ACLs are off'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0] as string)).toMatchObject({ level: 40 });
    } finally {
      await agent.stop();
    }
  });
});
