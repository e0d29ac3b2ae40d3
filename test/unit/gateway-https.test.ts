// The gateway in front of an agent that serves only HTTPS with verify_incoming: configured with
// -server https://..., the CA and a client certificate, it reads the directory (whose address for
// that server is an https:// URL) and proxies the API over TLS; without the client certificate the
// agent refuses it, and the gateway says so with a 502.

import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { defaultGatewayConfig, loadGatewayConfig, type GatewayConfig } from '../../src/gateway/config.js';
import { startGateway, type RunningGateway } from '../../src/gateway/main.js';
import { startDevAgent, type DevAgent } from '../support/dev-agent.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-files.js';

let f: TlsFiles;
let dev: DevAgent;
const gateways: RunningGateway[] = [];

beforeAll(async () => {
  f = await makeTlsFiles();
  dev = await startDevAgent((c) => {
    c.ports.https = 0;
    c.tls.defaults = { ...c.tls.defaults, caFile: f.ca, certFile: f.server.cert, keyFile: f.server.key };
    c.tls.https.verifyIncoming = true;
  });
});
afterAll(async () => {
  for (const g of gateways) await g.stop();
  await dev?.stop();
  if (f) rmSync(f.dir, { recursive: true, force: true });
});

async function gateway(tls: Partial<GatewayConfig['tls']>): Promise<RunningGateway> {
  const base = defaultGatewayConfig();
  const cfg: GatewayConfig = {
    ...base,
    port: 0,
    servers: [`https://${dev.agent.httpsAddr as string}`],
    tls: { ...base.tls, ...tls },
  };
  const g = await startGateway(cfg, silentLogger());
  gateways.push(g);
  return g;
}

describe('the gateway and an HTTPS-only agent', () => {
  it('reads the directory and proxies the API over TLS with the client certificate', async () => {
    expect(dev.agent.httpAddr).toBeNull();
    const g = await gateway({ caFile: f.ca, certFile: f.cli.cert, keyFile: f.cli.key });
    expect(await g.table.whenReady(10_000)).toBe(true);
    const status = (await (await fetch(`http://${g.address}/gateway/status`)).json()) as {
      Directory: { Datacenters: { Datacenter: string; Servers: string[] }[] };
    };
    // The server announces its API as an https:// URL, having no plain HTTP.
    expect(status.Directory.Datacenters).toEqual([
      { Datacenter: 'dc1', Servers: [`https://${dev.agent.httpsAddr as string}`] },
    ]);
    const put = await fetch(`http://${g.address}/v1/kv/through-tls`, { method: 'PUT', body: 'yes' });
    expect(put.status).toBe(200);
    const get = await fetch(`http://${g.address}/v1/kv/through-tls?raw`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('yes');
    expect(get.headers.get('x-consulate-upstream')).toBe(`https://${dev.agent.httpsAddr as string}`);
  });

  it('without a client certificate the agent refuses it: 502 naming the upstream', async () => {
    const g = await gateway({ caFile: f.ca });
    expect(await g.table.whenReady(1500)).toBe(false);
    const r = await fetch(`http://${g.address}/v1/kv/through-tls?raw`);
    expect(r.status).toBe(502);
    expect(await r.text()).toContain(dev.agent.httpsAddr as string);
  });

  it('takes the TLS settings as flags and config keys, and refuses half a pair', () => {
    const c = loadGatewayConfig([
      '-server',
      'https://10.0.0.1:8501',
      '-ca-file',
      '/ca.pem',
      '-client-cert',
      '/c.pem',
      '-client-key',
      '/k.pem',
      '-tls-server-name',
      'server.dc1.consul',
    ]);
    expect(c.servers).toEqual(['https://10.0.0.1:8501']);
    expect(c.tls).toEqual({
      caFile: '/ca.pem',
      certFile: '/c.pem',
      keyFile: '/k.pem',
      serverName: 'server.dc1.consul',
    });
    expect(() => loadGatewayConfig(['-client-cert', '/c.pem'])).toThrow(
      '-client-cert and -client-key go together',
    );
  });
});
