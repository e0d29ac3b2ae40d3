import { describe, expect, it } from 'vitest';
import {
  checkDefinitionJson,
  checkType,
  healthCheckDefinition,
  parseCheckDefinition,
  type CheckDefinition,
} from '../../src/agent/checks/definition.js';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';

function badRequest(raw: unknown, ctx?: Parameters<typeof parseCheckDefinition>[1]): string {
  try {
    parseCheckDefinition(raw, ctx);
  } catch (err) {
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).code).toBe(ErrorCode.BadRequest);
    return (err as Error).message;
  }
  throw new Error('parsed without error');
}

describe('check definitions', () => {
  it('reads an HTTP check in PascalCase, with Go durations', () => {
    const d = parseCheckDefinition({
      ID: 'api-health',
      Name: 'API',
      Notes: 'the public API',
      ServiceID: 'api-1',
      Status: 'passing',
      HTTP: 'https://127.0.0.1:8080/health',
      Method: 'POST',
      Header: { 'X-Token': ['a', 'b'], Host: 'api.local' },
      Body: '{"ping":1}',
      TLSSkipVerify: true,
      TLSServerName: 'api.internal',
      DisableRedirects: true,
      Interval: '1m30s',
      Timeout: '500ms',
      DeregisterCriticalServiceAfter: '10m',
      OutputMaxSize: 100,
    });
    expect(d).toEqual<CheckDefinition>({
      CheckID: 'api-health',
      Name: 'API',
      ServiceID: 'api-1',
      Notes: 'the public API',
      Status: 'passing',
      kind: 'http',
      HTTP: 'https://127.0.0.1:8080/health',
      Method: 'POST',
      Header: { 'X-Token': ['a', 'b'], Host: ['api.local'] },
      Body: '{"ping":1}',
      TLSSkipVerify: true,
      TLSServerName: 'api.internal',
      DisableRedirects: true,
      TCP: '',
      Args: [],
      TTLMs: 0,
      IntervalMs: 90_000,
      TimeoutMs: 500,
      DeregisterCriticalServiceAfterMs: 600_000,
      OutputMaxSize: 100,
    });
    expect(checkType(d)).toBe('http');
  });

  it('reads snake_case keys and nanosecond numbers, as Consul’s config files and API take them', () => {
    const d = parseCheckDefinition({
      check_id: 'disk',
      name: 'Disk',
      service_id: 'db',
      script_args: ['/bin/check-disk', '-w', '80'],
      interval: 10_000_000_000,
      timeout: '2s',
      deregister_critical_service_after: '1h',
      output_max_size: 512,
      tls_skip_verify: false,
    });
    expect(d.CheckID).toBe('disk');
    expect(d.ServiceID).toBe('db');
    expect(d.kind).toBe('script');
    expect(d.Args).toEqual(['/bin/check-disk', '-w', '80']);
    expect(d.IntervalMs).toBe(10_000);
    expect(d.TimeoutMs).toBe(2000);
    expect(d.DeregisterCriticalServiceAfterMs).toBe(3_600_000);
    expect(d.OutputMaxSize).toBe(512);
    expect(checkType(d)).toBe('script');

    const tcp = parseCheckDefinition({ name: 'ssh', tcp: 'localhost:22', interval: '10s', CheckID: 'ssh-1' });
    expect(tcp.kind).toBe('tcp');
    expect(tcp.CheckID).toBe('ssh-1');
    const args = parseCheckDefinition({ Name: 'x', args: ['true'], Interval: '5s' });
    expect(args.Args).toEqual(['true']);
  });

  it('fills Consul’s defaults', () => {
    const ttl = parseCheckDefinition({ Name: 'heartbeat', TTL: '30s' });
    expect(ttl).toMatchObject({
      CheckID: 'heartbeat',
      ServiceID: '',
      Notes: '',
      Status: 'critical',
      kind: 'ttl',
      TTLMs: 30_000,
      IntervalMs: 0,
      TimeoutMs: 10_000,
      DeregisterCriticalServiceAfterMs: 0,
      OutputMaxSize: 4096,
      Method: '',
      Header: {},
    });
    expect(checkType(ttl)).toBe('ttl');
    // Consul's script runner waits 30 s by default, its HTTP and TCP clients 10 s.
    expect(parseCheckDefinition({ Name: 's', Args: ['true'], Interval: '10s' }).TimeoutMs).toBe(30_000);
    expect(parseCheckDefinition({ Name: 't', TCP: 'a:1', Interval: '10s' }).TimeoutMs).toBe(10_000);
    // Empty strings mean "not given", as Go's zero values.
    expect(
      parseCheckDefinition({ Name: 'h', HTTP: 'http://x/', Interval: '1s', Timeout: '', Status: '' }),
    ).toMatchObject({
      Status: 'critical',
      TimeoutMs: 10_000,
    });
  });

  it('gives a service check its service, its default ID and name', () => {
    const d = parseCheckDefinition({ TTL: '10s' }, { serviceId: 'web-1', serviceName: 'web' });
    expect(d.CheckID).toBe('service:web-1');
    expect(d.ServiceID).toBe('web-1');
    expect(d.Name).toBe("Service 'web' check");
    const second = parseCheckDefinition(
      { Name: 'second', TTL: '10s', ServiceID: 'ignored' },
      { serviceId: 'web-1', defaultCheckId: 'service:web-1:2' },
    );
    expect(second.CheckID).toBe('service:web-1:2');
    expect(second.ServiceID).toBe('web-1');
    // An explicit ID wins over the context's default.
    expect(parseCheckDefinition({ ID: 'mine', Name: 'n', TTL: '1s' }, { serviceId: 'web-1' }).CheckID).toBe(
      'mine',
    );
  });

  it('refuses bad definitions with Consul’s messages', () => {
    expect(badRequest({ TTL: '10s' })).toBe('Missing check name');
    expect(badRequest({ Name: 'x', TTL: '10s', Status: 'healthy' })).toBe('Bad check status');
    expect(badRequest({ Name: 'x', TTL: '10s', Status: 'maintenance' })).toBe('Bad check status');
    expect(badRequest({ Name: 'x', TTL: '10s', Interval: '10s' })).toBe(
      'Invalid check: Interval and TTL cannot both be specified',
    );
    for (const kind of [{ HTTP: 'http://x/' }, { TCP: 'x:1' }, { Args: ['true'] }]) {
      expect(badRequest({ Name: 'x', ...kind })).toBe(
        'Invalid check: Interval must be > 0 for Script, HTTP, or TCP checks',
      );
      expect(badRequest({ Name: 'x', ...kind, Interval: '-5s' })).toBe(
        'Invalid check: Interval must be > 0 for Script, HTTP, or TCP checks',
      );
    }
    expect(badRequest({ Name: 'x' })).toBe('Invalid check: TTL must be > 0 for TTL checks');
    expect(badRequest({ Name: 'x', TTL: '-1s' })).toBe('Invalid check: TTL must be > 0 for TTL checks');
    expect(badRequest({ Name: 'x', TTL: '1s', OutputMaxSize: -1 })).toBe(
      'Invalid check: MaxOutputMaxSize must be positive',
    );
    expect(badRequest({ Name: 'x', HTTP: 'http://x/', TCP: 'x:1', Interval: '1s' })).toBe(
      'Invalid check: only one of HTTP, TCP or Args may be set',
    );
    expect(badRequest({ Name: 'x', TTL: '1s', Timeout: '-1s' })).toBe(
      'Invalid check: Timeout must not be negative',
    );
    expect(badRequest({ Name: 'x', TTL: '1s', DeregisterCriticalServiceAfter: '-1m' })).toBe(
      'Invalid check: DeregisterCriticalServiceAfter must not be negative',
    );
    expect(badRequest({ Name: 'x', TTL: 'ten seconds' })).toBe(
      'Request decode failed: time: invalid duration "ten seconds"',
    );
    expect(badRequest({ Name: 'x', TCP: 'x:1', Interval: '10' })).toBe(
      'Request decode failed: time: invalid duration "10"',
    );
    expect(badRequest({ Name: 'x', GRPC: 'x:1/svc', Interval: '1s' })).toBe(
      'Invalid check: GRPC checks are not supported by this agent',
    );
    expect(badRequest({ Name: 'x', AliasService: 'web' })).toBe(
      'Invalid check: Alias checks are not supported by this agent',
    );
  });

  it('refuses values of the wrong JSON type', () => {
    expect(badRequest(null)).toBe('Request decode failed: check definition must be an object');
    expect(badRequest(['x'])).toBe('Request decode failed: check definition must be an object');
    expect(badRequest({ Name: 7, TTL: '1s' })).toBe('Request decode failed: Name must be a string');
    expect(badRequest({ Name: 'x', Args: 'true', Interval: '1s' })).toBe(
      'Request decode failed: Args must be a list of strings',
    );
    expect(badRequest({ Name: 'x', TTL: '1s', Header: { A: [1] } })).toBe(
      'Request decode failed: Header.A must be a list of strings',
    );
    expect(badRequest({ Name: 'x', TTL: '1s', TLSSkipVerify: 'yes' })).toBe(
      'Request decode failed: TLSSkipVerify must be a boolean',
    );
    expect(badRequest({ Name: 'x', TTL: true })).toBe('Request decode failed: TTL is not a duration');
    expect(badRequest({ Name: 'x', TTL: '1s', OutputMaxSize: 1.5 })).toBe(
      'Request decode failed: OutputMaxSize must be an integer',
    );
  });

  it('takes a check with no type only when the caller allows it', () => {
    const d = parseCheckDefinition({ Name: 'manual' }, { allowNone: true });
    expect(d.kind).toBe('none');
    expect(checkType(d)).toBe('');
    expect(healthCheckDefinition(d)).toEqual({ OutputMaxSize: 4096 });
  });

  it('shows Definition as Consul does: the type’s fields only, durations as Go strings', () => {
    const d = parseCheckDefinition({
      Name: 'api',
      HTTP: 'http://127.0.0.1/health',
      Interval: '10s',
      Notes: 'n',
    });
    expect(healthCheckDefinition(d)).toEqual({
      HTTP: 'http://127.0.0.1/health',
      Interval: '10s',
      Timeout: '10s',
      OutputMaxSize: 4096,
    });
    const ttl = parseCheckDefinition({ Name: 'hb', TTL: '1m30s', DeregisterCriticalServiceAfter: '90m' });
    expect(healthCheckDefinition(ttl)).toEqual({
      TTL: '1m30s',
      DeregisterCriticalServiceAfter: '1h30m0s',
      OutputMaxSize: 4096,
    });
  });

  it('round-trips every kind through checkDefinitionJson', () => {
    const samples: unknown[] = [
      {
        ID: 'a',
        Name: 'API',
        ServiceID: 'api',
        Notes: 'n',
        Status: 'warning',
        HTTP: 'https://x:1/h',
        Method: 'PUT',
        Header: { A: ['1', '2'] },
        Body: 'b',
        TLSSkipVerify: true,
        TLSServerName: 'x.internal',
        DisableRedirects: true,
        Interval: '15s',
        Timeout: '3s',
        DeregisterCriticalServiceAfter: '2m',
        OutputMaxSize: 10,
      },
      { name: 'ssh', tcp: '[::1]:22', interval: '1500ms' },
      { name: 'disk', args: ['/bin/df', '-h'], interval: '1m', status: 'passing' },
      { name: 'hb', ttl: '45s', notes: 'app heartbeat' },
    ];
    for (const raw of samples) {
      const d = parseCheckDefinition(raw);
      const json = checkDefinitionJson(d);
      // What the agent persists survives a trip through JSON text, too.
      const again = parseCheckDefinition(JSON.parse(JSON.stringify(json)));
      expect(again).toEqual(d);
      expect(checkDefinitionJson(again)).toEqual(json);
    }
    const none = parseCheckDefinition({ Name: 'm', Status: 'passing' }, { allowNone: true });
    expect(parseCheckDefinition(checkDefinitionJson(none), { allowNone: true })).toEqual(none);
  });
});
