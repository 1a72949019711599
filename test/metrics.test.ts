// /metrics: who may read it, and that the numbers it shows are the numbers of what happened —
// parsed from the exposition text after driving real flows (codes from oathtool, time from the
// TestClock, webhook receivers on loopback, the real job engine: in-process or BullMQ).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateService, CreateTotpFactor, CreateWebhook, VerifyChallenge, VerifyFactor } from './support/documents.ts';
import { oathCode, unix } from './support/oath.ts';
import { Receiver } from './support/receiver.ts';
import { waitUntil, WAIT_MS } from './support/live.ts';
import { expireChallengeJob, reconcileExpiry } from '../src/services/challenge-expiry.ts';
import { serveMetrics } from '../src/observability/metrics-server.ts';

const METRICS_TOKEN = 'a-separate-metrics-token-0123456789abcdef';

let t: TestApp;
let a: Tenant;
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await startTestApp({
    VERITY_METRICS_TOKEN: METRICS_TOKEN,
    VERITY_WEBHOOK_ALLOW_PRIVATE: 'true',
    VERITY_WEBHOOK_MAX_ATTEMPTS: '2',
    VERITY_WEBHOOK_BACKOFF_MS: '20',
    VERITY_RECONCILE_INTERVAL_MS: '3600000',
  });
  await t.runtime.startWorkers();
  a = await t.newAccount('Metrics');
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await t?.close();
});

const get = (app: TestApp, authorization?: string) =>
  app.app.fetch('http://verity.test/metrics', { headers: authorization ? { authorization } : {} });

/** The exposition text as `name{labels}` → value (labels as printed, in prom-client's order). */
async function scrape(app: TestApp = t): Promise<Map<string, number>> {
  const res = await get(app, `Bearer ${METRICS_TOKEN}`);
  expect(res.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const value = (s: Map<string, number>, key: string) => s.get(key) ?? 0;

async function verifiedFactor(tenant: Tenant) {
  const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Metrics' } }, tenant.auth)).createService.sid;
  const identity = `metrics-user-${Math.random().toString(36).slice(2, 10)}`;
  const { createTotpFactor } = await t.ok(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'Phone' } }, tenant.auth);
  const secret = createTotpFactor.binding.secret;
  const code = () => oathCode(secret, {}, unix(t.clock.now()));
  await t.ok(VerifyFactor, { input: { factorSid: createTotpFactor.factor.sid, authPayload: code() } }, tenant.auth);
  t.clock.advance(30_000); // the enrolment used this step up
  return { serviceSid, identity, factorSid: createTotpFactor.factor.sid, secret, code };
}

/** A 6-digit code that is wrong now: the right one with its last digit changed. */
const wrong = (right: string) => right.slice(0, 5) + String((Number(right[5]) + 5) % 10);

describe('/metrics', () => {
  it('answers only the operator token or the metrics token: Prometheus text format 0.0.4', async () => {
    expect((await get(t)).status).toBe(401);
    expect((await get(t)).headers.get('www-authenticate')).toContain('Bearer');
    expect((await get(t, 'Bearer not-the-token-0123456789abcdef0123456789')).status).toBe(401);
    expect((await get(t, `Bearer ${METRICS_TOKEN}x`)).status).toBe(401);
    expect((await get(t, a.auth)).status).toBe(401); // an account's Basic credentials are not enough
    expect((await get(t, METRICS_TOKEN)).status).toBe(401); // no scheme
    for (const token of [ADMIN_TOKEN, METRICS_TOKEN]) {
      const res = await get(t, `Bearer ${token}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toContain('# TYPE verity_http_requests_total counter');
      expect(text).toMatch(/^verity_process_resident_memory_bytes \d+/m);
    }
    const post = await t.app.fetch('http://verity.test/metrics', { method: 'POST', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(post.status).toBe(405);
  });

  it('without either token configured, /metrics is closed', async () => {
    const bare = await startTestApp({ VERITY_ADMIN_TOKEN: '' });
    try {
      expect(bare.config.adminToken).toBeUndefined();
      expect((await get(bare, `Bearer ${METRICS_TOKEN}`)).status).toBe(401);
      expect((await get(bare, 'Bearer ')).status).toBe(401);
    } finally {
      await bare.close();
    }
  });

  it('expiry lag: the expiry job and reconciliation observe now − expirationDate (TestClock)', async () => {
    const f = await verifiedFactor(a);
    const before = await scrape();
    const expiresIn = (s: number) => new Date(t.clock.now().getTime() + s * 1000).toISOString();
    const x = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, expirationDate: expiresIn(60) } }, a.auth)).createChallenge;
    t.clock.advance(67_000);
    await expireChallengeJob(t.deps, x.sid); // the delayed job's handler, 7 s late
    const y = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, expirationDate: expiresIn(60) } }, a.auth)).createChallenge;
    t.clock.advance(62_500);
    expect(await reconcileExpiry(t.deps)).toBe(1); // y, 2.5 s late
    await expireChallengeJob(t.deps, y.sid); // already expired: not observed twice
    const after = await scrape();
    expect(value(after, 'verity_expiry_lag_seconds_count') - value(before, 'verity_expiry_lag_seconds_count')).toBe(2);
    expect(value(after, 'verity_expiry_lag_seconds_sum') - value(before, 'verity_expiry_lag_seconds_sum')).toBeCloseTo(9.5, 6);
    const bucket = (le: string) =>
      value(after, `verity_expiry_lag_seconds_bucket{le="${le}"}`) - value(before, `verity_expiry_lag_seconds_bucket{le="${le}"}`);
    expect([bucket('2'), bucket('5'), bucket('10')]).toEqual([0, 1, 2]);
  });

  it('verification outcomes, throttles and request counts match a driven flow', async () => {
    const before = await scrape();
    // Enrolment: a wrong code, then the right one.
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Flow' } }, a.auth)).createService.sid;
    const { createTotpFactor } = await t.ok(
      CreateTotpFactor,
      { input: { serviceSid, identity: 'metrics-flow-01', friendlyName: 'Phone' } },
      a.auth,
    );
    const secret = createTotpFactor.binding.secret;
    const factorSid = createTotpFactor.factor.sid;
    const code = () => oathCode(secret, {}, unix(t.clock.now()));
    expect((await t.ok(VerifyFactor, { input: { factorSid, authPayload: wrong(code()) } }, a.auth)).verifyFactor.status).toBe('UNVERIFIED');
    expect((await t.ok(VerifyFactor, { input: { factorSid, authPayload: code() } }, a.auth)).verifyFactor.status).toBe('VERIFIED');
    t.clock.advance(30_000);

    // c1: wrong on creation, right on verify, then verified again (already responded).
    const c1 = (await t.ok(CreateChallenge, { input: { factorSid, authPayload: wrong(code()) } }, a.auth)).createChallenge;
    expect((await t.ok(VerifyChallenge, { input: { challengeSid: c1.sid, authPayload: code() } }, a.auth)).verifyChallenge.status).toBe(
      'APPROVED',
    );
    expect(
      (await t.gql(VerifyChallenge, { input: { challengeSid: c1.sid, authPayload: code() } }, a.auth)).errors?.[0]?.extensions?.code,
    ).toBe('CHALLENGE_ALREADY_RESPONDED');
    t.clock.advance(30_000);

    // c2: five wrong codes, then the cap (Twilio 60308, no retryAfter).
    const c2 = (await t.ok(CreateChallenge, { input: { factorSid } }, a.auth)).createChallenge;
    for (let i = 0; i < 5; i++) await t.ok(VerifyChallenge, { input: { challengeSid: c2.sid, authPayload: wrong(code()) } }, a.auth);
    const capped = await t.gql(VerifyChallenge, { input: { challengeSid: c2.sid, authPayload: wrong(code()) } }, a.auth);
    expect(capped.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_ATTEMPTS' });
    expect(capped.errors?.[0]?.extensions?.retryAfter).toBeUndefined();

    // c3: the sixth consecutive wrong code is checked, the seventh meets the factor throttle.
    const c3 = (await t.ok(CreateChallenge, { input: { factorSid, authPayload: wrong(code()) } }, a.auth)).createChallenge;
    const throttled = await t.gql(VerifyChallenge, { input: { challengeSid: c3.sid, authPayload: wrong(code()) } }, a.auth);
    expect(throttled.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_ATTEMPTS', retryAfter: 1 });

    // c4: opened, then verified after its expiry.
    const c4 = (await t.ok(CreateChallenge, { input: { factorSid } }, a.auth)).createChallenge;
    t.clock.advance(6 * 60_000);
    expect(
      (await t.gql(VerifyChallenge, { input: { challengeSid: c4.sid, authPayload: code() } }, a.auth)).errors?.[0]?.extensions?.code,
    ).toBe('CHALLENGE_EXPIRED');

    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    const v = (kind: string, outcome: string) => delta(`verity_verifications_total{kind="${kind}",outcome="${outcome}"}`);
    expect({ wrong: v('factor', 'wrong_code'), approved: v('factor', 'approved') }).toEqual({ wrong: 1, approved: 1 });
    expect({
      approved: v('challenge', 'approved'),
      wrong_code: v('challenge', 'wrong_code'),
      already_responded: v('challenge', 'already_responded'),
      max_attempts: v('challenge', 'max_attempts'),
      throttled: v('challenge', 'throttled'),
      expired: v('challenge', 'expired'),
    }).toEqual({ approved: 1, wrong_code: 7, already_responded: 1, max_attempts: 1, throttled: 1, expired: 1 });
    expect(delta('verity_throttles_total{kind="factor_guessing"}')).toBe(1);
    // Labelled by root field, not by path or SID; GraphQL answers 200 even with errors.
    expect(delta('verity_http_requests_total{operation="createChallenge",status="200"}')).toBe(4);
    expect(delta('verity_http_requests_total{operation="verifyChallenge",status="200"}')).toBe(10);
    expect(delta('verity_http_request_duration_seconds_count{operation="verifyChallenge"}')).toBe(10);
    expect([...after.keys()].some((k) => /operation="[^"]*(YC|YF|VA)[0-9a-f]{32}/.test(k))).toBe(false);
  });

  it('REST requests are labelled by route template; webhook deliveries by outcome', async () => {
    const ok = await Receiver.start();
    const failing = await Receiver.start();
    failing.answer = () => 500;
    receivers.push(ok, failing);
    const before = await scrape();
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Hooks' } }, a.auth)).createService.sid;
    for (const r of [ok, failing]) {
      await t.ok(
        CreateWebhook,
        { input: { serviceSid, friendlyName: 'm', webhookUrl: r.url(), eventTypes: ['factor.created'], signing: 'STANDARD' } },
        a.auth,
      );
    }
    const rest = await t.app.fetch(`http://verity.test/v2/Services/${serviceSid}/Entities/metrics-rest-01/Factors`, {
      method: 'POST',
      headers: { authorization: a.auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ FriendlyName: 'Phone', FactorType: 'totp' }).toString(),
    });
    expect(rest.status).toBe(201);
    await ok.waitFor(1);
    await failing.waitFor(2); // two attempts (VERITY_WEBHOOK_MAX_ATTEMPTS=2), then dead
    // The counters move when the worker has read each answer, which can be after the receiver saw
    // the request: wait until every outcome has been counted once (a second count would still fail).
    let after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    const outcomes = () => (['delivered', 'failed', 'dead'] as const).map((o) => delta(`verity_webhook_deliveries_total{outcome="${o}"}`));
    await waitUntil(
      async () => {
        after = await scrape();
        return outcomes().every((n) => n >= 1);
      },
      WAIT_MS,
      'every delivery outcome counted',
    );
    expect(outcomes()).toEqual([1, 1, 1]);
    expect(delta('verity_http_requests_total{operation="POST /v2/Services/:serviceSid/Entities/:identity/Factors",status="201"}')).toBe(1);
    expect((await t.app.fetch(`http://verity.test/v2/Services/${serviceSid}`)).status).toBe(401);
    expect(value(await scrape(), 'verity_http_requests_total{operation="GET /v2/Services/:sid",status="401"}')).toBe(1);
  });

  it('queue depth and active subscriptions are read at scrape time', async () => {
    const f = await verifiedFactor(a);
    await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth); // a delayed expiry job
    const queue = t.deps.jobs.kind === 'bullmq' ? 'verity-jobs' : 'local';
    const s = await scrape();
    for (const state of ['waiting', 'delayed', 'active', 'failed'])
      expect(s.has(`verity_queue_depth{queue="${queue}",state="${state}"}`)).toBe(true);
    expect(value(s, `verity_queue_depth{queue="${queue}",state="delayed"}`)).toBeGreaterThanOrEqual(1);

    expect(value(s, 'verity_active_subscriptions')).toBe(0);
    const sub = t.deps.events.subscribe(a.sid);
    const pending = sub.next(); // registers the listener
    expect(value(await scrape(), 'verity_active_subscriptions')).toBe(1);
    await sub.return?.();
    await pending;
    expect(value(await scrape(), 'verity_active_subscriptions')).toBe(0);
  });

  it('a worker process serves its own /metrics on VERITY_WORKER_METRICS_PORT, same credentials', async () => {
    const server = await serveMetrics(t.deps, 0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${server.port}`;
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: a.auth } })).status).toBe(401);
      expect((await fetch(`${url}/other`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(404);
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      // The same registry as the runtime's: the expiries observed above are there.
      expect(await res.text()).toMatch(/^verity_expiry_lag_seconds_count [1-9]/m);
    } finally {
      await server.close();
    }
  });

  it('two apps in one process keep their own counters', async () => {
    const other = await startTestApp({ VERITY_METRICS_TOKEN: METRICS_TOKEN });
    try {
      const mine = await scrape();
      const b = await other.newAccount('Other');
      await other.ok(CreateService, { input: { friendlyName: 'Elsewhere' } }, b.auth);
      const theirs = await scrape(other);
      expect(value(theirs, 'verity_http_requests_total{operation="createService",status="200"}')).toBe(1);
      expect(value(await scrape(), 'verity_http_requests_total{operation="createService",status="200"}')).toBe(
        value(mine, 'verity_http_requests_total{operation="createService",status="200"}'),
      );
      expect(other.deps.metrics.registry).not.toBe(t.deps.metrics.registry);
    } finally {
      await other.close();
    }
  });
});
