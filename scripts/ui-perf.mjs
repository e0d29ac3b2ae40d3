// How fast the services page is with many services: starts a -dev agent on free ports, registers
// N services (default 5,000) on 100 catalog nodes, half with a failing check on some, and times
// in headless Chromium: the page until its list shows, a filter keystroke, and a live update (a
// check turning critical) until the page shows it. `npm run build && node scripts/ui-perf.mjs`.

import { chromium } from 'playwright-core';
import { startDevServer } from './ui-dev-agent.mjs';

const N = Number(process.env['N'] ?? 5000);

const { agent, http } = await startDevServer();

const name = (i) => `svc-${String(i).padStart(5, '0')}`;
async function register(i, status = i % 29 === 0 ? 'critical' : 'passing') {
  const r = await fetch(`http://${http}/v1/catalog/register`, {
    method: 'PUT',
    body: JSON.stringify({
      Node: `node-${i % 100}`,
      Address: `10.1.${i % 100}.1`,
      Service: { ID: name(i), Service: name(i), Port: 1000 + (i % 5000), Tags: ['v1', `team-${i % 40}`] },
      Check: { CheckID: `check-${name(i)}`, Name: 'health', ServiceID: name(i), Status: status },
    }),
  });
  if (!r.ok) throw new Error(`register ${i}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

let browser;
try {
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) await register(next++);
    }),
  );
  console.log(`registered ${N} services in ${Date.now() - t0} ms`);

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  for (let run = 1; run <= 3; run++) {
    const start = Date.now();
    await page.goto(`http://${http}/ui/dc1/services`);
    await page.getByText(`${N + 1} services`).waitFor({ timeout: 60_000 });
    await page.locator(`tr[data-service="${name(0)}"]`).waitFor();
    const shown = Date.now() - start;
    // One keystroke in the name filter, timed inside the page until the next frame is painted.
    const filterMs = await page.evaluate(async () => {
      const input = document.querySelector('input[type=search]');
      const t = performance.now();
      input.value = 'svc-01';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const ms = performance.now() - t;
      input.value = '';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      return Math.round(ms);
    });
    // A live update: the first service's check fails; time until its row says critical.
    const i = run; // a different service each run
    const liveStart = Date.now();
    await register(i, 'critical');
    await page
      .locator(`tr[data-service="${name(i)}"] [data-status="critical"]`)
      .first()
      .waitFor();
    const liveMs = Date.now() - liveStart;
    // Scrolling to the end renders the last rows, where the spacer says they are.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.locator(`tr[data-service="${name(N - 1)}"]`).waitFor();
    const rows = await page.locator('tbody tr[data-row]').count();
    console.log(
      `run ${run}: page shown in ${shown} ms (navigation to list), filter keystroke ${filterMs} ms, live update ${liveMs} ms, ${rows} rows in the DOM`,
    );
  }
} finally {
  await browser?.close();
  agent.kill('SIGTERM');
}
