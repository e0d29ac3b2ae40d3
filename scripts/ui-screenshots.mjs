// Screenshots of the web UI's main pages into docs/ui/*.png, for the README. Starts a -dev agent
// on free ports, fills it with sample data (scripts/ui-demo-data.mjs) and drives Debian's
// Chromium headless. Needs a build first: `npm run build && node scripts/ui-screenshots.mjs`.

import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { loadDemoData } from './ui-demo-data.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'docs/ui');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const [httpPort, dnsPort, serfPort, rpcPort] = [
  await freePort(),
  await freePort(),
  await freePort(),
  await freePort(),
];
const http = `127.0.0.1:${httpPort}`;
const agent = spawn(
  process.execPath,
  [
    join(root, 'bin/consulate.js'),
    'agent',
    '-dev',
    '-node=server-1',
    '-datacenter=dc1',
    `-http-port=${httpPort}`,
    `-dns-port=${dnsPort}`,
    `-serf-lan-port=${serfPort}`,
    `-server-port=${rpcPort}`,
    '-serf-wan-port=-1',
    '-log-level=warn',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
let browser;
try {
  await waitFor('a leader', async () => {
    const r = await fetch(`http://${http}/v1/status/leader`);
    return r.ok && (await r.json()) !== '';
  });
  await loadDemoData(http, 'dc1');
  await mkdir(outDir, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  const shot = async (path, file, ready) => {
    await page.goto(`http://${http}${path}`);
    await ready();
    // Focus rings belong to interaction, not to a picture of the page.
    await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
    await page.screenshot({ path: join(outDir, file) });
    console.log(`docs/ui/${file}`);
  };
  await shot('/ui/dc1/services', 'services.png', () => page.locator('tr[data-service="web"]').waitFor());
  await shot('/ui/dc1/services/web', 'service.png', () =>
    page.locator('li[data-instance="web-2"]').waitFor(),
  );
  await shot('/ui/dc1/nodes', 'nodes.png', () => page.getByTestId('leader').getByText('server-1').waitFor());
  await shot('/ui/dc1/kv/config/web/features/edit', 'kv-editor.png', () =>
    page.getByLabel('Value', { exact: true }).waitFor(),
  );
} finally {
  await browser?.close();
  agent.kill('SIGTERM');
}
