// -datacenter, the common API flag of every command that talks to the HTTP API, goes out as ?dc=;
// the server's "No path to datacenter" comes back as the command's error and exit code 1.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/common.js';
import { main } from '../../src/cli/main.js';

let server: Server;
let addr = '';
const seen: string[] = [];

beforeAll(async () => {
  // Answers every request the way a server without a route to the datacenter does.
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(500, { 'content-type': 'text/plain' }).end('No path to datacenter\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function cli(...args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const io: Io = {
    out: () => undefined,
    err: (s) => (err += s),
    stdin: async () => Buffer.alloc(0),
    env: { CONSUL_HTTP_ADDR: addr },
  };
  return { code: await main(args, io), err };
}

describe('-datacenter', () => {
  const commands: [string[], RegExp][] = [
    [['kv', 'get', '-datacenter=dc2', 'app/x'], /^GET \/v1\/kv\/app\/x\?/],
    [['kv', 'put', '-datacenter', 'dc2', 'app/x', 'v'], /^PUT \/v1\/kv\/app\/x\?/],
    [['kv', 'delete', '-datacenter=dc2', 'app/x'], /^DELETE \/v1\/kv\/app\/x\?/],
    [['catalog', 'nodes', '-datacenter=dc2'], /^GET \/v1\/catalog\/nodes\?/],
    [['catalog', 'services', '-datacenter=dc2'], /^GET \/v1\/catalog\/services\?/],
    [['operator', 'raft', 'list-peers', '-datacenter=dc2'], /^GET \/v1\/operator\/raft\/configuration\?/],
    [['event', '-datacenter=dc2', '-name=deploy'], /^PUT \/v1\/event\/fire\/deploy\?/],
    [['lock', '-datacenter=dc2', 'locks/app', 'true'], /^PUT \/v1\/session\/create\?/],
  ];
  for (const [argv, request] of commands) {
    it(`consulate ${argv.join(' ')} sends ?dc=dc2`, async () => {
      seen.length = 0;
      const r = await cli(...argv);
      expect(seen[0]).toMatch(request);
      expect(new URL(`http://x${(seen[0] ?? '').split(' ')[1]}`).searchParams.get('dc')).toBe('dc2');
      expect(r.code).toBe(1);
      expect(r.err).toContain('No path to datacenter');
    });
  }

  it('sends no dc without the flag', async () => {
    seen.length = 0;
    await cli('kv', 'get', 'app/x');
    expect(seen[0]).toBe('GET /v1/kv/app/x');
  });
});
