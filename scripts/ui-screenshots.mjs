// Screenshots of the web UI's main pages into docs/ui/*.png, for the README. Starts a -dev agent
// on free ports, fills it with sample data (scripts/ui-demo-data.mjs) and drives Debian's
// Chromium headless. Needs a build first: `npm run build && node scripts/ui-screenshots.mjs`.

import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { loadDemoData } from './ui-demo-data.mjs';
import { startDevServer } from './ui-dev-agent.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'docs/ui');

const { agent, http } = await startDevServer();
let browser;
try {
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
