import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseCheckDefinition } from '../../src/agent/checks/definition.js';
import { truncateTtlOutput } from '../../src/agent/checks/output.js';
import { startCheck, type CheckResult } from '../../src/agent/checks/runner.js';
import { splitHostPort } from '../../src/agent/checks/tcp-check.js';
import { silentLogger } from '../../src/core/logger.js';
import { capturingLogger, def, first } from './agent-checks-helpers.js';

describe('TCP checks', () => {
  it('is passing when the port accepts a connection', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      expect(await first(def({ TCP: `127.0.0.1:${port}`, Interval: '10s' }))).toEqual({
        status: 'passing',
        output: `TCP connect 127.0.0.1:${port}: Success`,
      });
      // A name resolves and is tried on each of its addresses, as Go's dialer does.
      expect((await first(def({ TCP: `localhost:${port}`, Interval: '10s' }))).status).toBe('passing');
    } finally {
      server.close();
    }
  });

  it('is critical when the port is closed, or the address has no port', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await new Promise((r) => server.close(r));
    expect(await first(def({ TCP: `127.0.0.1:${port}`, Interval: '10s' }))).toEqual({
      status: 'critical',
      output: `dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });
    expect(await first(def({ TCP: 'localhost', Interval: '10s' }))).toEqual({
      status: 'critical',
      output: 'dial tcp localhost: address localhost: missing port in address',
    });
  });

  it('splits host and port like Go', () => {
    expect(splitHostPort('10.0.0.1:80')).toEqual({ host: '10.0.0.1', port: 80 });
    expect(splitHostPort('[::1]:8500')).toEqual({ host: '::1', port: 8500 });
    expect(splitHostPort(':22')).toEqual({ host: 'localhost', port: 22 });
    expect(splitHostPort('::1:80')).toBeUndefined();
    expect(splitHostPort('host:99999')).toBeUndefined();
  });
});

describe('TTL checks', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const start = (ttl: string) => {
    const got: CheckResult[] = [];
    const check = startCheck(parseCheckDefinition({ Name: 'hb', TTL: ttl, OutputMaxSize: 20 }), {
      update: (r) => got.push(r),
      logger: silentLogger(),
      allowScripts: false,
    });
    return { got, check };
  };

  it('turns critical with "TTL expired" when no heartbeat comes within the TTL', () => {
    vi.useFakeTimers();
    const { got, check } = start('10s');
    vi.advanceTimersByTime(9_999);
    expect(got).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(got).toEqual([{ status: 'critical', output: 'TTL expired' }]);
    // Expired once; no repeats until the application reports again.
    vi.advanceTimersByTime(60_000);
    expect(got).toHaveLength(1);
    check.stop();
  });

  it('restarts the timer on every heartbeat, and keeps the last output for the expiry message', () => {
    vi.useFakeTimers();
    const { got, check } = start('10s');
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(8_000);
      check.heartbeat();
    }
    expect(got).toEqual([]);
    check.heartbeat('disk at 91% and rising fast');
    vi.advanceTimersByTime(10_000);
    expect(got).toEqual([
      {
        status: 'critical',
        output:
          'TTL expired (last output before timeout follows): disk at 91% and risi ... (captured 20 of 27 bytes)',
      },
    ]);
    // A late heartbeat re-arms it, as in Consul.
    check.heartbeat();
    vi.advanceTimersByTime(10_000);
    expect(got).toHaveLength(2);
    check.stop();
  });

  it('holds TTLs longer than setTimeout can (24.8 days)', () => {
    vi.useFakeTimers();
    const { got, check } = start('720h');
    vi.advanceTimersByTime(1000);
    expect(got).toEqual([]);
    vi.advanceTimersByTime(29 * 24 * 3_600_000);
    expect(got).toEqual([]);
    vi.advanceTimersByTime(24 * 3_600_000);
    expect(got).toEqual([{ status: 'critical', output: 'TTL expired' }]);
    check.stop();
  });

  it('does nothing after stop()', () => {
    vi.useFakeTimers();
    const { got, check } = start('1s');
    check.stop();
    check.heartbeat();
    vi.advanceTimersByTime(60_000);
    expect(got).toEqual([]);
  });

  it('expires on real timers too, and never lets an update() failure escape', async () => {
    const { logger, records } = capturingLogger();
    let calls = 0;
    const check = startCheck(parseCheckDefinition({ Name: 'hb', TTL: '100ms' }), {
      update: () => {
        calls++;
        throw new Error('the caller broke');
      },
      logger,
      allowScripts: false,
    });
    const deadline = Date.now() + 30_000;
    while (calls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    check.stop();
    expect(calls).toBe(1);
    expect(records.filter((r) => r.msg === 'check status update failed')).toHaveLength(1);
  });

  it('cuts API output like Consul', () => {
    expect(truncateTtlOutput('short', 10)).toBe('short');
    expect(truncateTtlOutput('0123456789abc', 10)).toBe('0123456789 ... (captured 10 of 13 bytes)');
  });
});

describe('checks without a type', () => {
  it('do nothing', () => {
    const check = startCheck(parseCheckDefinition({ Name: 'm' }, { allowNone: true }), {
      update: () => {
        throw new Error('never');
      },
      logger: silentLogger(),
      allowScripts: false,
    });
    check.heartbeat();
    check.stop();
  });
});
