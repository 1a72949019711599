import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateService, CreateWebhook } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';

// Bull Board at /admin/queues: production mode only, the operator token only (Bearer, or as the
// password of HTTP Basic so a browser's prompt opens it), read-only, under the failed-auth budget.
const redisUrl = process.env.REDIS_URL;
const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function get(t: TestApp, path: string, authorization?: string, method = 'GET') {
  return t.app.fetch(`http://verity.test${path}`, { method, headers: authorization ? { authorization } : {} });
}

describe.runIf(redisUrl)('the queue dashboard, production mode', () => {
  let t: TestApp;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startTestApp({ REDIS_URL: redisUrl!, VERITY_WEBHOOK_ALLOW_PRIVATE: 'true' });
    tenant = await t.newAccount('Board');
  });
  afterAll(async () => t?.close());

  it('asks for credentials with a Basic challenge, so a browser prompts; nothing of the board without them', async () => {
    for (const path of ['/admin/queues', '/admin/queues/', '/admin/queues/api/queues', '/admin/queues/static/favicon.ico']) {
      const res = await get(t, path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="Verity queues"/);
      expect(await res.text()).not.toMatch(/bull|queue/i);
    }
  });

  it('refuses a wrong operator token, as Bearer or as Basic password, and account credentials', async () => {
    expect((await get(t, '/admin/queues', `Bearer wrong-${ADMIN_TOKEN}`)).status).toBe(401);
    expect((await get(t, '/admin/queues', basicAuth('operator', `wrong-${ADMIN_TOKEN}`))).status).toBe(401);
    // The token as the user name, not the password, is not the RFC 7617 form we accept.
    expect((await get(t, '/admin/queues', basicAuth(ADMIN_TOKEN, 'x'))).status).toBe(401);
    expect((await get(t, '/admin/queues', tenant.auth)).status).toBe(401);
  });

  it('serves the board to the operator token (Bearer, or Basic with any user name) from local assets under its own CSP', async () => {
    for (const authorization of [`Bearer ${ADMIN_TOKEN}`, basicAuth('anyone', ADMIN_TOKEN), basicAuth('', ADMIN_TOKEN)]) {
      const res = await get(t, '/admin/queues', authorization);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).toContain('static/js/');
      // Offline: no third-party stylesheet (the template links Google Fonts), no absolute URL at all.
      expect(html).not.toMatch(/https?:\/\//);
      const script = html.match(/src="(static\/js\/[^"]+)"/)![1]!;
      const asset = await get(t, `/admin/queues/${script}`, authorization);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(/javascript/);
    }
    // The rest of the app keeps its own policy: the board's CSP is only on its paths.
    expect((await t.app.fetch('http://verity.test/healthz')).headers.get('content-security-policy')).toBeNull();
  });

  it("lists Verity's queue with its expiry and webhook delivery jobs", async () => {
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Board' } }, tenant.auth)).createService.sid;
    await t.ok(
      CreateWebhook,
      { input: { serviceSid, friendlyName: 'hook', eventTypes: ['*'], webhookUrl: 'http://127.0.0.1:9/hook' } },
      tenant.auth,
    );
    const { factorSid } = await verifiedFactor(t, tenant, { serviceSid });
    await t.ok(CreateChallenge, { input: { factorSid } }, tenant.auth);
    const res = await get(
      t,
      '/admin/queues/api/queues?activeQueue=verity-jobs&status=latest&page=1&jobsPerPage=50',
      `Bearer ${ADMIN_TOKEN}`,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string; readOnlyMode: boolean; jobs: { name: string }[] }[] };
    const queue = body.queues.find((q) => q.name === 'verity-jobs')!;
    expect(queue.readOnlyMode).toBe(true);
    const names = new Set(queue.jobs.map((j) => j.name));
    expect(names).toContain('expire-challenge');
    expect(names).toContain('deliver-webhook');
  });

  it('is read-only: no job action, whatever a client sends', async () => {
    for (const path of ['/admin/queues/api/queues/verity-jobs/retry/failed', '/admin/queues/api/queues/verity-jobs/clean/delayed']) {
      const res = await get(t, path, `Bearer ${ADMIN_TOKEN}`, 'PUT');
      expect(res.status).toBe(405);
    }
    expect(await t.deps.jobs.pendingCount()).toBeGreaterThan(0);
  });
});

describe('the queue dashboard is off', () => {
  it.runIf(redisUrl)('without an operator token: 404, even with a Bearer header', async () => {
    const t = await startTestApp({ REDIS_URL: redisUrl!, VERITY_ADMIN_TOKEN: '' });
    try {
      for (const authorization of [undefined, `Bearer ${ADMIN_TOKEN}`])
        expect((await get(t, '/admin/queues', authorization)).status).toBe(404);
    } finally {
      await t.close();
    }
  });

  it.skipIf(redisUrl)('in embedded mode (no BullMQ queue to show): 404 to the operator too', async () => {
    const t = await startTestApp();
    try {
      expect((await get(t, '/admin/queues', `Bearer ${ADMIN_TOKEN}`)).status).toBe(404);
    } finally {
      await t.close();
    }
  });
});

describe.runIf(redisUrl)('guessing the operator token on the queue dashboard', () => {
  it('spends the failed-auth budget: 429 after it, the right token included', async () => {
    const t = await startTestApp({ REDIS_URL: redisUrl!, VERITY_RATE_LIMIT_AUTH_FAILURES: '3' });
    try {
      for (let i = 0; i < 3; i++) expect((await get(t, '/admin/queues', basicAuth('op', `guess-${i}`))).status).toBe(401);
      const refused = await get(t, '/admin/queues', `Bearer ${ADMIN_TOKEN}`);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });
});
