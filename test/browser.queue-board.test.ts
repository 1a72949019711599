import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpTestApp, type HttpTestApp } from './support/http-server.ts';
import { ADMIN_TOKEN } from './support/app.ts';
import { BROWSER_TEST_TIMEOUT, WAIT, launchGuardedBrowser, SKIP_BROWSER, type GuardedBrowser } from './support/browser.ts';

// Bull Board in Chromium, offline: every request that would leave the machine is aborted and
// recorded. Production mode only: embedded mode has no BullMQ queue and the board is off.
const redisUrl = process.env.REDIS_URL;

describe.skipIf(SKIP_BROWSER || !redisUrl)('/admin/queues in Chromium', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let t: HttpTestApp;
  let b: GuardedBrowser;
  beforeAll(async () => {
    [t, b] = await Promise.all([startHttpTestApp({ REDIS_URL: redisUrl! }), launchGuardedBrowser()]);
  });
  afterAll(async () => {
    await b?.close();
    await t?.close();
  });

  it('renders offline for the operator (Basic, as after the browser prompt) and lists the job queue', async () => {
    const { page } = b;
    // What the browser sends once the operator answered the Basic prompt with the token as password.
    await page.setExtraHTTPHeaders({ authorization: `Basic ${Buffer.from(`operator:${ADMIN_TOKEN}`).toString('base64')}` });
    const res = await page.goto(`${t.baseUrl}/admin/queues`);
    expect(res?.status()).toBe(200);
    await expect.poll(() => page.getByText('verity-jobs').count(), WAIT).toBeGreaterThan(0);
    expect(b.offsite).toEqual([]);
    expect(b.pageErrors).toEqual([]);
  });
});
