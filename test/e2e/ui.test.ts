// The web UI end to end: real agents (two datacenters joined over the WAN) serve the built UI
// (npm run build), and Debian's Chromium, driven headless by playwright-core, uses it the way a
// person would. Live updates are checked without a reload: a marker set on the page's window must
// survive until the change shows.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TestCluster, eventually, type ServerProc } from '../cluster/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const UI_INDEX = join(import.meta.dirname, '../../dist/ui/index.html');
/** How long the page may take to show a change (a blocking query answers within moments). */
const LIVE_MS = 10_000;

let dc1: TestCluster;
let dc2: TestCluster;
let browser: Browser;
let page: Page;
/** The dc1 client agent: the UI is opened on it, as `npm start` prints. */
let agent: ServerProc;

const base = (): string => `http://${agent.http}/ui`;

beforeAll(async () => {
  // A missing browser or bundle fails the file: these tests never turn into skips.
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  if (!existsSync(UI_INDEX)) throw new Error(`${UI_INDEX} is missing: run npm run build`);
  const ui = { ui_config: { enabled: true } };
  [dc1, dc2] = await Promise.all([
    TestCluster.start({
      servers: 1,
      clients: 1,
      datacenter: 'dc1',
      wan: true,
      logLevel: 'info',
      extraConfig: ui,
    }),
    // Three servers, so that killing two leaves one without a leader (the last test).
    TestCluster.start({ servers: 3, datacenter: 'dc2', wan: true, logLevel: 'info', extraConfig: ui }),
  ]);
  [browser] = await Promise.all([
    chromium.launch({ executablePath: CHROMIUM, headless: true }),
    dc1.waitForLeader(30_000),
    dc2.waitForLeader(30_000),
  ]);
  agent = dc1.clients[0] as ServerProc;
  const s1 = dc1.servers[0] as ServerProc;
  const t1 = dc2.servers[0] as ServerProc;
  const r = await s1.client.request('PUT', `/v1/agent/join/127.0.0.1:${t1.wanPort}`, { query: { wan: '1' } });
  expect(r.status).toBe(200);
  await eventually(
    async () => (await agent.client.json<string[]>('GET', '/v1/catalog/datacenters')).join() === 'dc1,dc2',
    20_000,
    'dc1 to know dc2',
  );
  // The client agent has joined its server once its node is in the catalog.
  await eventually(
    async () => (await agent.client.json<unknown[]>('GET', `/v1/catalog/node/${agent.name}`)) !== null,
    20_000,
    'the client agent in the catalog',
  );
  page = await browser.newPage();
  // Each step waits at most this long, so a failure shows as itself, not as the test's timeout.
  page.setDefaultTimeout(LIVE_MS);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([dc1?.stop(), dc2?.stop()]);
});

/** Marks the page's window: if the marker is still there later, the page was not reloaded. */
async function markPage(p: Page): Promise<void> {
  await p.evaluate(() => ((globalThis as unknown as { e2eMarker: number }).e2eMarker = 42));
}
async function stillSamePage(p: Page): Promise<boolean> {
  return p.evaluate(() => (globalThis as unknown as { e2eMarker?: number }).e2eMarker === 42);
}

async function kvValue(key: string): Promise<string | null> {
  const r = await agent.client.request('GET', `/v1/kv/${key}`, { query: { raw: '1' } });
  return r.status === 404 ? null : r.body.toString();
}

describe('web UI', () => {
  it('shows a registered service, and its health turns red when its check fails, without a reload', async () => {
    const reg = await agent.client.request('PUT', '/v1/agent/service/register', {
      body: JSON.stringify({
        Name: 'web',
        ID: 'web-1',
        Port: 8080,
        Tags: ['v1', 'http'],
        Check: { CheckID: 'web-ttl', Name: 'web ttl', TTL: '10m', Status: 'passing' },
      }),
    });
    expect(reg.status).toBe(200);

    await page.goto(`${base()}/`);
    // /ui/ goes to the agent's own datacenter's services.
    await page.waitForURL(`${base()}/dc1/services`);
    const row = page.locator('tr[data-service="web"]');
    const health = row.locator('td').first().locator('.status');
    await expect.poll(() => health.getAttribute('data-status'), { timeout: LIVE_MS }).toBe('passing');
    expect(await row.textContent()).toContain('v1');
    await markPage(page);

    const fail = await agent.client.request('PUT', '/v1/agent/check/fail/web-ttl', {
      query: { note: 'upstream down' },
    });
    expect(fail.status).toBe(200);
    await expect.poll(() => health.getAttribute('data-status'), { timeout: LIVE_MS }).toBe('critical');
    expect(await health.textContent()).toContain('critical');
    // Red, and said in words too (the colour is not the only signal).
    const colour = await health.evaluate(
      (el) =>
        (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(el)
          .color,
    );
    expect(colour).toBe('rgb(196, 20, 31)');
    expect(await stillSamePage(page)).toBe(true);

    // The instance page shows the check's status and output.
    await row.getByRole('link', { name: 'web' }).click();
    await page.waitForURL(`${base()}/dc1/services/web`);
    const check = page.locator('tr[data-check="web-ttl"]');
    await expect.poll(() => check.textContent(), { timeout: LIVE_MS }).toContain('upstream down');
    expect(await check.locator('.status').getAttribute('data-status')).toBe('critical');
    expect(await stillSamePage(page)).toBe(true);
  });

  it('a service with 250 instances: 100 cards at first, more on request, and filters by ID, node and health', async () => {
    // Five nodes, fifty instances each; every fiftieth (7, 57, ...) has a critical check.
    const ids = Array.from({ length: 250 }, (_, i) => i);
    for (let b = 0; b < ids.length; b += 25) {
      await Promise.all(
        ids.slice(b, b + 25).map(async (i) => {
          const r = await agent.client.request('PUT', '/v1/catalog/register', {
            body: JSON.stringify({
              Node: `many-host-${i % 5}`,
              Address: `10.7.0.${i % 5}`,
              Service: { Service: 'many', ID: `many-${i}`, Port: 9000 + i },
              Check: {
                CheckID: `many-${i}-check`,
                Name: 'probe',
                ServiceID: `many-${i}`,
                Status: i % 50 === 7 ? 'critical' : 'passing',
              },
            }),
          });
          expect(r.status).toBe(200);
        }),
      );
    }
    await page.goto(`${base()}/dc1/services/many`);
    const cards = page.locator('li[data-instance]');
    const more = page.getByTestId('instances-more');
    await expect.poll(() => more.textContent(), { timeout: LIVE_MS }).toContain('Showing 100 of 250');
    expect(await cards.count()).toBe(100);
    expect(await page.locator('.summary').textContent()).toContain('250 instances');
    await page.getByRole('button', { name: 'Show 100 more' }).click();
    await expect.poll(() => cards.count()).toBe(200);
    await page.getByRole('button', { name: 'Show 50 more' }).click();
    await expect.poll(() => cards.count()).toBe(250);
    expect(await more.count()).toBe(0);

    // The filters start over at the first page of what matches.
    await page.getByLabel('Instance').fill('many-17');
    await expect.poll(() => cards.count()).toBe(11); // many-17 and many-170 ... many-179
    await page.getByLabel('Instance').fill('many-host-3');
    await expect.poll(() => cards.count()).toBe(50);
    expect(await more.count()).toBe(0);
    await page.getByLabel('Instance').fill('');
    await page.getByLabel('Status').selectOption('critical');
    const shownIds = async (): Promise<string> =>
      (await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-instance') ?? ''))).sort().join();
    await expect.poll(shownIds).toBe('many-107,many-157,many-207,many-57,many-7');
  });

  it('nodes page shows every node and which server is the leader', async () => {
    const leader = dc1.servers[0] as ServerProc;
    await page.goto(`${base()}/dc1/nodes`);
    await expect
      .poll(() => page.getByTestId('leader').textContent(), { timeout: LIVE_MS })
      .toContain(`Leader: ${leader.name}`);
    const row = page.locator(`tr[data-node="${leader.name}"]`);
    expect(await row.locator('[data-role]').getAttribute('data-role')).toBe('leader');
    expect(await page.locator(`tr[data-node="${agent.name}"]`).textContent()).toContain('not a server');
  });

  it('creates a key, reports a conflicting change on save, and deletes a key and a folder', async () => {
    await page.goto(`${base()}/dc1/kv/`);
    await page.getByLabel('Name').fill('app/config');
    await page.getByLabel('Value', { exact: true }).fill('one');
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect.poll(() => kvValue('app/config'), { timeout: LIVE_MS }).toBe('one');
    // The list is live: the new folder shows without a reload.
    await page.locator('tr[data-key="app/"]').getByRole('link').click();
    await page.waitForURL(`${base()}/dc1/kv/app/`);
    await page.locator('tr[data-key="app/config"]').getByRole('link').click();
    await page.waitForURL(`${base()}/dc1/kv/app/config/edit`);
    const value = page.getByLabel('Value', { exact: true });
    await expect.poll(() => value.inputValue(), { timeout: LIVE_MS }).toBe('one');

    // JSON mode refuses to save what does not parse.
    await page.getByLabel('JSON').check();
    await value.fill('{"mine": ');
    expect(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole('alert').first().textContent()).toContain('Not valid JSON');
    await value.fill('{"mine": true}');

    // Someone else changes the key while it is open here.
    await agent.client.request('PUT', '/v1/kv/app/config', { body: 'theirs' });
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const conflict = page.getByTestId('kv-conflict');
    await conflict.waitFor({ timeout: LIVE_MS });
    expect(await conflict.textContent()).toContain('Changed by someone else');
    expect(await page.getByTestId('kv-theirs').textContent()).toBe('theirs');
    expect(await kvValue('app/config')).toBe('theirs');
    // The user chooses to keep theirs, then saves again over the current version.
    await page.getByRole('button', { name: 'Discard mine, load theirs' }).click();
    expect(await value.inputValue()).toBe('theirs');
    await page.getByLabel('JSON').uncheck();
    await value.fill('final');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => kvValue('app/config'), { timeout: LIVE_MS }).toBe('final');

    // Delete the key (asks first), back to its folder.
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('button', { name: 'Delete this key' }).click();
    await page.waitForURL(`${base()}/dc1/kv/app/`);
    await expect.poll(() => kvValue('app/config'), { timeout: LIVE_MS }).toBe(null);

    // Delete a folder with everything under it.
    await agent.client.request('PUT', '/v1/kv/app/a', { body: '1' });
    await agent.client.request('PUT', '/v1/kv/app/b/c', { body: '2' });
    await page.goto(`${base()}/dc1/kv/`);
    const folder = page.locator('tr[data-key="app/"]');
    await folder.getByRole('button', { name: 'Delete folder app/' }).click();
    await folder.getByRole('button', { name: 'Delete folder and all its keys' }).click();
    await expect.poll(() => folder.count(), { timeout: LIVE_MS }).toBe(0);
    expect(await kvValue('app/a')).toBe(null);
    expect(await kvValue('app/b/c')).toBe(null);
  });

  it('switches to dc2, listed after dc1 (nearest first), and shows its services', async () => {
    const t1 = dc2.servers[0] as ServerProc;
    await t1.client.request('PUT', '/v1/catalog/register', {
      body: JSON.stringify({
        Node: 'ext-1',
        Address: '10.9.0.1',
        Service: { Service: 'only-in-dc2', Port: 1 },
      }),
    });
    await page.goto(`${base()}/dc1/services`);
    const switcher = page.getByLabel('Datacenter');
    await expect
      .poll(() => switcher.locator('option').allTextContents(), { timeout: LIVE_MS })
      .toEqual(['dc1', 'dc2']);
    await page.locator('tr[data-service="web"]').waitFor({ timeout: LIVE_MS });
    await markPage(page);
    await switcher.selectOption('dc2');
    await page.waitForURL(`${base()}/dc2/services`);
    await page.locator('tr[data-service="only-in-dc2"]').waitFor({ timeout: LIVE_MS });
    expect(await page.locator('tr[data-service="web"]').count()).toBe(0);
    expect(await stillSamePage(page)).toBe(true);
  });

  it('says clearly when a datacenter has no leader', async () => {
    await page.goto(`${base()}/dc2/services`);
    await page.locator('tr[data-service="only-in-dc2"]').waitFor();
    expect(await page.getByTestId('no-leader').count()).toBe(0);
    await markPage(page);
    // Two of dc2's three servers die: the last one cannot elect a leader alone. The page is only
    // waiting on its blocking query: the answer that ends the wait must say there is no leader.
    const leader = await dc2.waitForLeader();
    const survivor = dc2.followers(leader)[0] as ServerProc;
    await Promise.all(dc2.servers.filter((s) => s !== survivor).map((s) => dc2.kill9(s)));
    const banner = page.getByTestId('no-leader');
    await banner.waitFor({ timeout: 40_000 });
    expect(await banner.textContent()).toContain('No cluster leader in dc2');
    expect(await stillSamePage(page)).toBe(true);
  }, 60_000);
});
