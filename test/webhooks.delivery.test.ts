// Webhooks end to end: real HTTP receivers on loopback, the real job engine (in-process, or BullMQ
// with REDIS_URL), signatures checked by the verifiers receivers use — twilio.validateRequest from
// the `twilio` package and the `standardwebhooks` package — never by our own code.
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import twilio from 'twilio';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { startTestApp, TEST_KEYS, type TestApp, type Tenant } from './support/app.ts';
import {
  CreateChallenge,
  CreateService,
  CreateTotpFactor,
  CreateWebhook,
  DeleteFactor,
  DeleteWebhook,
  ListWebhooks,
  RedeliverWebhookDelivery,
  UpdateFactor,
  UpdateWebhook,
  VerifyFactor,
  WebhookDeliveries,
} from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { oathCode, unix } from './support/oath.ts';
import { formOf, Receiver, type Received } from './support/receiver.ts';
import { recordBus, waitUntil, WAIT_MS } from './support/live.ts';
import { emit } from '../src/services/events.ts';
import { reconcileExpiry } from '../src/services/challenge-expiry.ts';
import { createWebhook } from '../src/services/webhooks.ts';
import { recaptureAuthToken } from '../src/services/webhook-sealing.ts';
import { reconcileWebhookDeliveries } from '../src/services/webhook-delivery.ts';
import { rotateSeeds } from '../src/infra/keys.ts';
import { decryptSeed, parseKeyring } from '../src/domain/seed-crypto.ts';
import { randomBytes } from 'node:crypto';

const MAX_ATTEMPTS = 3;
const BACKOFF_MS = 40;
/**
 * Per-attempt deadline for this file. Generous: the receivers share this process's event loop with
 * Verity (and, embedded, with PGlite), so on a loaded box an answer sent at once can be read late; an
 * attempt that timed out would be retried and break "exactly once". The deadline test sets its own.
 */
const TIMEOUT_MS = 10_000;
const HANG_TIMEOUT_MS = 1_500;

let t: TestApp;
let a: Tenant;
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await startTestApp({
    VERITY_WEBHOOK_ALLOW_PRIVATE: 'true', // the receivers listen on loopback
    VERITY_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    VERITY_WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    VERITY_WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
    VERITY_RECONCILE_INTERVAL_MS: '3600000',
  });
  await t.runtime.startWorkers();
  a = await t.newAccount('Webhook tenant');
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await t?.close();
});
afterEach(() => vi.useRealTimers());

async function receiver(): Promise<Receiver> {
  const r = await Receiver.start();
  receivers.push(r);
  return r;
}

async function service(tenant = a) {
  return (await t.ok(CreateService, { input: { friendlyName: 'Hooks' } }, tenant.auth)).createService.sid;
}

async function hook(
  serviceSid: string,
  url: string,
  opts: { eventTypes?: string[]; signing?: 'TWILIO' | 'STANDARD'; tenant?: Tenant } = {},
) {
  const r = await t.ok(
    CreateWebhook,
    { input: { serviceSid, friendlyName: 'Receiver', webhookUrl: url, eventTypes: opts.eventTypes ?? ['*'], signing: opts.signing } },
    (opts.tenant ?? a).auth,
  );
  return r.createWebhook;
}

const deliveries = async (webhookSid: string, tenant = a) =>
  (await t.ok(WebhookDeliveries, { webhookSid, first: 100 }, tenant.auth)).webhookDeliveries.edges.map((e) => e.node);

const valid = (token: string, url: string, r: Received) =>
  twilio.validateRequest(token, String(r.headers['x-twilio-signature']), url, formOf(r.body));

describe('TWILIO signing: form body + X-Twilio-Signature, accepted by twilio.validateRequest', () => {
  it('each event type arrives exactly once, with a valid signature and Twilio’s fields; factor.updated / challenge.created are not webhook events', async () => {
    const rx = await receiver();
    const url = rx.url('/verify-events?tenant=a');
    const serviceSid = await service();
    const { webhook, signingSecret } = await hook(serviceSid, url);
    expect(webhook.sid).toMatch(/^YW[0-9a-f]{32}$/);
    expect(webhook).toMatchObject({ signing: 'TWILIO', status: 'ENABLED', version: 'V2', webhookMethod: 'POST', eventTypes: ['*'] });
    expect(signingSecret).toBeNull();

    // factor.created, factor.verified
    const identity = 'hook-user-0001';
    const { createTotpFactor } = await t.ok(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'Phone' } }, a.auth);
    const factorSid = createTotpFactor.factor.sid;
    const secret = createTotpFactor.binding.secret;
    await t.ok(VerifyFactor, { input: { factorSid, authPayload: oathCode(secret, {}, unix(t.clock.now())) } }, a.auth);
    t.clock.advance(30_000);
    await t.ok(UpdateFactor, { input: { factorSid, friendlyName: 'Phone 2' } }, a.auth); // factor.updated: not delivered
    // challenge.approved (challenge.created is not delivered)
    const approved = await t.ok(
      CreateChallenge,
      { input: { factorSid, authPayload: oathCode(secret, {}, unix(t.clock.now())), details: { message: 'Sign in' } } },
      a.auth,
    );
    expect(approved.createChallenge.status).toBe('APPROVED');
    // challenge.expired: a pending challenge overdue, made durable by reconciliation
    const pending = await t.ok(CreateChallenge, { input: { factorSid } }, a.auth);
    t.clock.advance(6 * 60_000);
    expect(await reconcileExpiry(t.deps)).toBe(1);
    // challenge.denied: TOTP has no path that denies (push only); the event type is still delivered when emitted.
    await emit(t.deps, {
      type: 'challenge.denied',
      accountSid: a.sid,
      serviceSid,
      identity,
      factorSid,
      challengeSid: pending.createChallenge.sid,
    });
    // factor.deleted
    await t.ok(DeleteFactor, { sid: factorSid }, a.auth);

    const got = await rx.waitFor(6);
    const types = got.map((r) => formOf(r.body).type);
    expect(types.sort()).toEqual([
      'challenge.approved',
      'challenge.denied',
      'challenge.expired',
      'factor.created',
      'factor.deleted',
      'factor.verified',
    ]);
    for (const r of got) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/verify-events?tenant=a');
      expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(valid(a.token, url, r)).toBe(true);
      const body = formOf(r.body);
      expect(body).toMatchObject({
        account_sid: a.sid,
        service_sid: serviceSid,
        entity_identity: identity,
        factor_sid: factorSid,
        factor_type: 'totp',
      });
      expect(body.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.headers['i-twilio-idempotency-token']).toBe(body.uuid);
      expect(r.body).not.toContain(secret);
      expect(r.body).not.toContain(a.token);
    }
    const byType = Object.fromEntries(got.map((r) => [formOf(r.body).type, formOf(r.body)]));
    expect(byType['challenge.approved']).toMatchObject({
      challenge_sid: approved.createChallenge.sid,
      challenge_status: 'approved',
      factor_friendly_name: 'Phone 2',
    });
    expect(JSON.parse(byType['challenge.approved']!.challenge_details!)).toMatchObject({ message: 'Sign in', fields: [] });
    expect(byType['challenge.expired']).toMatchObject({ challenge_sid: pending.createChallenge.sid, challenge_status: 'expired' });
    expect(byType['factor.deleted']).toMatchObject({ factor_friendly_name: 'Phone 2' });
    expect(byType['factor.verified']).toMatchObject({ factor_status: 'verified' });

    // Every delivery succeeded on its first attempt, so nothing more can arrive: exactly once each.
    await waitUntil(async () => (await deliveries(webhook.sid)).every((d) => d.status === 'SUCCEEDED'), WAIT_MS, 'deliveries recorded');
    const rows = await deliveries(webhook.sid);
    expect(rows).toHaveLength(6);
    expect(rows.map((d) => [d.attempts, d.lastStatusCode, d.lastError])).toEqual(rows.map(() => [1, 200, null]));
    expect(rx.requests).toHaveLength(6);
  });

  it('a tampered body, or a signature checked against another URL or token, fails twilio.validateRequest', async () => {
    const rx = await receiver();
    const url = rx.url();
    const serviceSid = await service();
    await hook(serviceSid, url);
    await verifiedFactor(t, a, { serviceSid });
    const r = await rx.next();
    expect(valid(a.token, url, r)).toBe(true);
    const tampered = { ...r, body: r.body.replace(/entity_identity=[^&]+/, 'entity_identity=someone-else') };
    expect(tampered.body).not.toBe(r.body);
    expect(valid(a.token, url, tampered)).toBe(false);
    expect(valid(a.token, `${url}?x=1`, r)).toBe(false);
    expect(valid('0'.repeat(64), url, r)).toBe(false);
  });

  it('only subscribed event types are delivered; a DISABLED webhook receives nothing; a deleted one stops', async () => {
    const onlyApproved = await receiver();
    const disabledRx = await receiver();
    const serviceSid = await service();
    const approvedHook = await hook(serviceSid, onlyApproved.url(), { eventTypes: ['challenge.approved'] });
    const off = await hook(serviceSid, disabledRx.url());
    await t.ok(UpdateWebhook, { input: { sid: off.webhook.sid, status: 'DISABLED' } }, a.auth);
    const f = await verifiedFactor(t, a, { serviceSid });
    await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, a.auth);
    const r = await onlyApproved.next();
    expect(formOf(r.body).type).toBe('challenge.approved');
    await waitUntil(async () => (await deliveries(approvedHook.webhook.sid))[0]?.status === 'SUCCEEDED', WAIT_MS, 'delivery recorded');
    expect(onlyApproved.requests).toHaveLength(1); // factor.created / factor.verified were not subscribed
    expect(await deliveries(off.webhook.sid)).toHaveLength(0);
    expect(disabledRx.requests).toHaveLength(0);

    const list = await t.ok(ListWebhooks, { serviceSid }, a.auth);
    expect(list.webhooks.totalCount).toBe(2);
    await t.ok(DeleteWebhook, { sid: approvedHook.webhook.sid }, a.auth);
    expect((await t.ok(ListWebhooks, { serviceSid }, a.auth)).webhooks.totalCount).toBe(1);
    const gone = await t.gql(WebhookDeliveries, { webhookSid: approvedHook.webhook.sid }, a.auth);
    expect(gone.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('TWILIO signing needs the raw auth token: without Basic credentials createWebhook is FORBIDDEN; the token is stored encrypted, bound to the webhook', async () => {
    const serviceSid = await service();
    const tenant = { deps: t.deps, accountSid: a.sid };
    await expect(
      createWebhook(tenant, { serviceSid, friendlyName: 'x', webhookUrl: 'http://127.0.0.1:9/', eventTypes: ['*'] }, {}),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    const { webhook } = await createWebhook(
      tenant,
      { serviceSid, friendlyName: 'x', webhookUrl: 'http://127.0.0.1:9/', eventTypes: ['*'] },
      { credential: a.token },
    );
    const row = await t.deps.prisma.webhook.findUniqueOrThrow({ where: { sid: webhook.sid } });
    expect(Buffer.from(row.secretCiphertext).toString('latin1')).not.toContain(a.token);
    expect(Buffer.from(decryptSeed(t.deps.keyring, row.secretKeyId, row.secretCiphertext, `webhook:${row.sid}`)).toString()).toBe(a.token);
    // Copied onto another webhook's row, the ciphertext no longer authenticates (AAD = the webhook SID).
    expect(() =>
      decryptSeed(t.deps.keyring, row.secretKeyId, row.secretCiphertext, 'webhook:YW00000000000000000000000000000000'),
    ).toThrow();
  });

  it('after an auth-token rotation, recaptureAuthToken makes deliveries sign with the new token', async () => {
    const rx = await receiver();
    const serviceSid = await service();
    await hook(serviceSid, rx.url());
    const newToken = randomBytes(32).toString('hex');
    expect(await recaptureAuthToken(t.deps, a.sid, newToken)).toBeGreaterThan(0);
    await verifiedFactor(t, a, { serviceSid });
    const r = await rx.next();
    expect(valid(newToken, rx.url(), r)).toBe(true);
    expect(valid(a.token, rx.url(), r)).toBe(false);
    // updateWebhook with the (current) Basic credentials captures that token again.
    await recaptureAuthToken(t.deps, a.sid, a.token);
  });

  it('keys:rotate re-encrypts webhook signing keys under the new primary key', async () => {
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, 'http://127.0.0.1:9/');
    const keyring = parseKeyring(`k9:${randomBytes(32).toString('base64')},${TEST_KEYS}`);
    await rotateSeeds(t.deps.prisma, keyring);
    const row = await t.deps.prisma.webhook.findUniqueOrThrow({ where: { sid: webhook.sid } });
    expect(row.secretKeyId).toBe('k9');
    expect(Buffer.from(decryptSeed(keyring, 'k9', row.secretCiphertext, `webhook:${row.sid}`)).toString()).toBe(a.token);
  });
});

describe('STANDARD signing: JSON body + Standard Webhooks headers, accepted by the standardwebhooks verifier', () => {
  it('signingSecret is returned once; the verifier accepts the request and rejects a tampered body and a replayed old timestamp', async () => {
    const rx = await receiver();
    const serviceSid = await service();
    const created = await hook(serviceSid, rx.url(), { signing: 'STANDARD', eventTypes: ['factor.created'] });
    const secret = created.signingSecret!;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.webhook.signing).toBe('STANDARD');
    // Never readable again: no Webhook field carries it, and updates return no secret.
    const listed = await t.ok(ListWebhooks, { serviceSid }, a.auth);
    expect(JSON.stringify(listed)).not.toContain(secret.slice(6));

    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'std-user-0001', friendlyName: 'Phone' } }, a.auth);
    const r = await rx.next();
    expect(r.headers['content-type']).toBe('application/json');
    const headers = {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    };
    const wh = new StandardWebhook(secret);
    const payload = wh.verify(r.body, headers) as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: 'factor.created',
      account_sid: a.sid,
      service_sid: serviceSid,
      entity_identity: 'std-user-0001',
      factor_friendly_name: 'Phone',
    });
    expect(headers['webhook-id']).toBe(payload.uuid);

    expect(() => wh.verify(r.body.replace('std-user-0001', 'std-user-0002'), headers)).toThrow();
    expect(() => new StandardWebhook(`whsec_${randomBytes(32).toString('base64')}`).verify(r.body, headers)).toThrow();
    // The same request replayed ten minutes later (the verifier's tolerance is five).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 10 * 60_000);
    expect(() => wh.verify(r.body, headers)).toThrow(/timestamp/i);
  });
});

describe('retries on the workflow engine', () => {
  it('a receiver that fails twice then succeeds gets the event on the third attempt, same uuid, after backoff', async () => {
    const rx = await receiver();
    rx.answer = (n) => (n <= 2 ? 500 : 200);
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, rx.url(), { eventTypes: ['factor.created'] });
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'retry-user-0001', friendlyName: 'Phone' } }, a.auth);
    const got = await rx.waitFor(3);
    const uuids = new Set(got.map((r) => formOf(r.body).uuid));
    expect(uuids.size).toBe(1);
    for (const r of got) expect(valid(a.token, rx.url(), r)).toBe(true);
    // Exponential backoff with jitter: at least half of base * 2^(n-1) between attempts.
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(BACKOFF_MS / 2 - 5);
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(BACKOFF_MS - 5);
    await waitUntil(async () => (await deliveries(webhook.sid))[0]?.status === 'SUCCEEDED', WAIT_MS, 'success recorded');
    const [d] = await deliveries(webhook.sid);
    expect(d).toMatchObject({ status: 'SUCCEEDED', attempts: 3, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
    expect(rx.requests).toHaveLength(3);
  });

  it('a receiver that always fails ends DEAD after the configured attempts, with the last error; redeliver sends it again', async () => {
    const rx = await receiver();
    rx.answer = () => 503;
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, rx.url(), { eventTypes: ['factor.created'] });
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'dead-user-0001', friendlyName: 'Phone' } }, a.auth);
    await rx.waitFor(MAX_ATTEMPTS);
    await waitUntil(async () => (await deliveries(webhook.sid))[0]?.status === 'DEAD', WAIT_MS, 'DEAD recorded');
    const [dead] = await deliveries(webhook.sid);
    expect(dead).toMatchObject({ status: 'DEAD', attempts: MAX_ATTEMPTS, lastStatusCode: 503, nextAttemptAt: null });
    expect(dead!.lastError).toMatch(/^HTTP 503/);
    expect(rx.requests).toHaveLength(MAX_ATTEMPTS);
    const deadOnly = await t.ok(WebhookDeliveries, { webhookSid: webhook.sid, status: 'DEAD' }, a.auth);
    expect(deadOnly.webhookDeliveries.totalCount).toBe(1);

    rx.answer = () => 204;
    const again = await t.ok(RedeliverWebhookDelivery, { sid: dead!.sid }, a.auth);
    expect(again.redeliverWebhookDelivery).toMatchObject({ status: 'PENDING', attempts: 0, eventUuid: dead!.eventUuid });
    const r = await rx.waitFor(MAX_ATTEMPTS + 1);
    expect(formOf(r.at(-1)!.body).uuid).toBe(dead!.eventUuid);
    await waitUntil(async () => (await deliveries(webhook.sid))[0]?.status === 'SUCCEEDED', WAIT_MS, 'redelivery recorded');
    expect((await deliveries(webhook.sid))[0]).toMatchObject({ attempts: 1, lastStatusCode: 204 });
  });

  it('each attempt has a deadline: a receiver that never answers fails with a timeout', async () => {
    // A short deadline for this test only (read per attempt): three attempts must time out in turn.
    t.deps.config.webhookTimeoutMs = HANG_TIMEOUT_MS;
    onTestFinished(() => void (t.deps.config.webhookTimeoutMs = TIMEOUT_MS));
    const rx = await receiver();
    rx.answer = () => 'hang';
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, rx.url(), { eventTypes: ['factor.created'] });
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'slow-user-0001', friendlyName: 'Phone' } }, a.auth);
    await rx.waitFor(MAX_ATTEMPTS);
    await waitUntil(async () => (await deliveries(webhook.sid))[0]?.status === 'DEAD', WAIT_MS, 'DEAD recorded');
    const [d] = await deliveries(webhook.sid);
    expect(d).toMatchObject({ attempts: MAX_ATTEMPTS, lastStatusCode: null });
    expect(d!.lastError).toMatch(new RegExp(`timed out after ${HANG_TIMEOUT_MS} ms`));
  });

  it('redirects are not followed', async () => {
    const rx = await receiver();
    const target = await receiver();
    rx.answer = () => ({ status: 302, headers: { location: target.url() } });
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, rx.url(), { eventTypes: ['factor.created'] });
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'redirect-user-01', friendlyName: 'Phone' } }, a.auth);
    await waitUntil(async () => (await deliveries(webhook.sid))[0]?.status === 'DEAD', WAIT_MS, 'DEAD recorded');
    const [d] = await deliveries(webhook.sid);
    expect(d).toMatchObject({ lastStatusCode: 302, lastError: 'HTTP 302: redirect not followed' });
    expect(target.requests).toHaveLength(0);
  });

  it('the response is read with a size cap: an endless 200 body does not hold the attempt until its timeout', async () => {
    const rx = await receiver();
    rx.answer = () => 'stream';
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, rx.url(), { eventTypes: ['factor.created'] });
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'stream-user-001', friendlyName: 'Phone' } }, a.auth);
    await waitUntil(async () => (await deliveries(webhook.sid))[0]?.status === 'SUCCEEDED', WAIT_MS, 'success recorded');
    expect(rx.requests).toHaveLength(1);
  });

  it('job data is SIDs and the event (uuid, type), never a token or a secret; a lost job is re-enqueued by reconciliation', async () => {
    const rx = await receiver();
    const serviceSid = await service();
    const { webhook } = await hook(serviceSid, rx.url(), { eventTypes: ['factor.created'] });
    const std = await hook(serviceSid, rx.url('/std'), { eventTypes: ['factor.created'], signing: 'STANDARD' });
    const enqueued: { name: string; data: Record<string, unknown> }[] = [];
    // The queue is down for the fan-out: the enqueue fails, the delivery rows stay.
    const spy = vi.spyOn(t.deps.jobs, 'enqueue').mockImplementation(async (name, data) => {
      enqueued.push({ name, data });
      throw new Error('queue down');
    });
    try {
      await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'lost-user-0001', friendlyName: 'Phone' } }, a.auth);
    } finally {
      spy.mockRestore();
    }
    const hooks = enqueued.filter((j) => j.name === 'deliver-webhook');
    expect(hooks).toHaveLength(2);
    for (const j of hooks) {
      expect(Object.keys(j.data).sort()).toEqual(['attempt', 'deliverySid', 'eventType', 'eventUuid', 'generation', 'webhookSid']);
      expect(j.data.eventType).toBe('factor.created');
      const text = JSON.stringify(j.data);
      expect(text).not.toContain(a.token);
      expect(text).not.toContain(std.signingSecret!.slice(6));
    }
    expect((await deliveries(webhook.sid))[0]?.status).toBe('PENDING');
    expect(await reconcileWebhookDeliveries(t.deps, 0)).toBeGreaterThanOrEqual(2);
    const got = await rx.waitFor(2);
    expect(new Set(got.map((r) => r.path))).toEqual(new Set(['/hook', '/std']));
    const rows = await t.deps.prisma.webhookDelivery.findMany({ where: { webhookSid: { in: [webhook.sid, std.webhook.sid] } } });
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(a.token);
    expect(stored).not.toContain(std.signingSecret!.slice(6));
  });
});

describe('one path for subscriptions and webhooks', () => {
  it('the event bus and the webhook see the same webhook-type events, in the same order', async () => {
    const rx = await receiver();
    const serviceSid = await service();
    await hook(serviceSid, rx.url());
    const { seen, stop } = await recordBus(t, a.sid, (e) => e.serviceSid === serviceSid);
    const f = await verifiedFactor(t, a, { serviceSid });
    await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, a.auth);
    const got = await rx.waitFor(3);
    await waitUntil(() => seen.length >= 4, WAIT_MS, 'bus events'); // + challenge.created (bus only)
    await stop();
    const webhookTypes = ['factor.created', 'factor.verified', 'challenge.approved'];
    expect(seen.map((e) => e.type).filter((x) => webhookTypes.includes(x))).toEqual(webhookTypes);
    expect(got.map((r) => formOf(r.body).type).sort()).toEqual([...webhookTypes].sort());
  });
});

describe('tenant isolation', () => {
  it('a second tenant’s events never reach the first tenant’s webhook; its webhooks and deliveries answer NOT_FOUND to the first', async () => {
    const b = await t.newAccount('Other tenant');
    const rxA = await receiver();
    const rxB = await receiver();
    const serviceA = await service(a);
    const serviceB = await service(b);
    const hookA = await hook(serviceA, rxA.url(), { tenant: a });
    const hookB = await hook(serviceB, rxB.url(), { tenant: b });

    await verifiedFactor(t, b, { serviceSid: serviceB });
    const bGot = await rxB.waitFor(2);
    for (const r of bGot) {
      expect(formOf(r.body).account_sid).toBe(b.sid);
      expect(valid(b.token, rxB.url(), r)).toBe(true);
    }
    await waitUntil(async () => (await deliveries(hookB.webhook.sid, b)).every((d) => d.status === 'SUCCEEDED'), WAIT_MS, 'B recorded');
    // Then A acts: the first request A's receiver ever gets is A's own.
    await t.ok(CreateTotpFactor, { input: { serviceSid: serviceA, identity: 'iso-user-0001', friendlyName: 'Phone' } }, a.auth);
    const first = await rxA.next();
    expect(formOf(first.body)).toMatchObject({ account_sid: a.sid, service_sid: serviceA });
    expect(rxA.requests).toHaveLength(1);
    expect(rxB.requests).toHaveLength(2);
    expect(await deliveries(hookA.webhook.sid, a)).toHaveLength(1);

    // A cannot see, change or redeliver B's webhook and deliveries (NOT_FOUND, like a SID that does not exist).
    const [bDelivery] = await deliveries(hookB.webhook.sid, b);
    for (const r of [
      await t.gql(WebhookDeliveries, { webhookSid: hookB.webhook.sid }, a.auth),
      await t.gql(RedeliverWebhookDelivery, { sid: bDelivery!.sid }, a.auth),
      await t.gql(UpdateWebhook, { input: { sid: hookB.webhook.sid, status: 'DISABLED' } }, a.auth),
      await t.gql(DeleteWebhook, { sid: hookB.webhook.sid }, a.auth),
      await t.gql(ListWebhooks, { serviceSid: serviceB }, a.auth),
    ])
      expect(r.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // A webhook on A's service cannot be created against B's service either.
    const cross = await t.gql(
      CreateWebhook,
      { input: { serviceSid: serviceB, friendlyName: 'x', webhookUrl: rxA.url(), eventTypes: ['*'] } },
      a.auth,
    );
    expect(cross.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
