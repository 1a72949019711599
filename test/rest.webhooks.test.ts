// The Webhooks resource through Twilio's own SDK (`/v2/Services/{ServiceSid}/Webhooks`), and a
// delivery of a webhook the SDK created, checked with the SDK's own twilio.validateRequest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { startHttpTestApp, twilioClient, type HttpTestApp } from './support/http-server.ts';
import type { Tenant } from './support/app.ts';
import { ListWebhooks } from './support/documents.ts';
import { formOf, Receiver } from './support/receiver.ts';

let t: HttpTestApp;
let a: Tenant;
let b: Tenant;
let rx: Receiver;

const clientFor = (tenant: Tenant) => twilioClient(t, tenant.sid, tenant.token);

beforeAll(async () => {
  t = await startHttpTestApp({ VERITY_WEBHOOK_ALLOW_PRIVATE: 'true', VERITY_WEBHOOK_TIMEOUT_MS: '2000' });
  await t.runtime.startWorkers();
  a = await t.newAccount('REST webhooks');
  b = await t.newAccount('Other tenant');
  rx = await Receiver.start();
});
afterAll(async () => {
  await rx?.close();
  await t?.close();
});

describe('Webhooks via twilio-node', () => {
  it('create → fetch → list → update → remove, with Twilio’s fields; GraphQL sees the same webhook', async () => {
    const client = clientFor(a);
    const service = await client.verify.v2.services.create({ friendlyName: 'Hooks' });
    const hooks = client.verify.v2.services(service.sid).webhooks;
    const w = await hooks.create({
      friendlyName: 'My receiver',
      eventTypes: ['factor.verified', 'challenge.approved'],
      webhookUrl: rx.url('/twilio'),
    });
    expect(w.sid).toMatch(/^YW[0-9a-f]{32}$/);
    expect(w).toMatchObject({
      serviceSid: service.sid,
      accountSid: a.sid,
      friendlyName: 'My receiver',
      eventTypes: ['factor.verified', 'challenge.approved'],
      status: 'enabled',
      version: 'v2',
      webhookUrl: rx.url('/twilio'),
      webhookMethod: 'POST',
      url: `${t.baseUrl}/v2/Services/${service.sid}/Webhooks/${w.sid}`,
    });
    expect(w.dateCreated).toBeInstanceOf(Date);
    expect(JSON.stringify(w.toJSON())).not.toContain(a.token);

    expect((await hooks(w.sid).fetch()).sid).toBe(w.sid);
    expect((await hooks.list()).map((x) => x.sid)).toEqual([w.sid]);
    const updated = await hooks(w.sid).update({ status: 'disabled', eventTypes: ['*'], friendlyName: 'Renamed' });
    expect(updated).toMatchObject({ status: 'disabled', eventTypes: ['*'], friendlyName: 'Renamed' });
    const gql = await t.ok(ListWebhooks, { serviceSid: service.sid }, a.auth);
    expect(gql.webhooks.edges[0]?.node).toMatchObject({ sid: w.sid, status: 'DISABLED', signing: 'TWILIO', friendlyName: 'Renamed' });
    await hooks(w.sid).remove();
    expect(await hooks.list()).toEqual([]);
  });

  it('errors as RestException: bad event type and private-address rules (60200), another tenant’s webhook (404)', async () => {
    const client = clientFor(a);
    const service = await client.verify.v2.services.create({ friendlyName: 'Hooks' });
    const hooks = client.verify.v2.services(service.sid).webhooks;
    const bad = await hooks.create({ friendlyName: 'x', eventTypes: ['factor.exploded'], webhookUrl: rx.url() }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, code: 60200 });
    expect((bad as Error).message).toMatch(/EventTypes/);
    const scheme = await hooks.create({ friendlyName: 'x', eventTypes: ['*'], webhookUrl: 'ftp://example.com/' }).catch((e: unknown) => e);
    expect(scheme).toMatchObject({ status: 400, code: 60200 });
    expect((scheme as Error).message).toMatch(/WebhookUrl/);

    const w = await hooks.create({ friendlyName: 'x', eventTypes: ['*'], webhookUrl: rx.url() });
    const other = clientFor(b);
    // One at a time (thunks): a rejection must not go unobserved while an earlier call is awaited.
    for (const call of [
      () => other.verify.v2.services(service.sid).webhooks(w.sid).fetch(),
      () => other.verify.v2.services(service.sid).webhooks(w.sid).update({ status: 'disabled' }),
      () => other.verify.v2.services(service.sid).webhooks(w.sid).remove(),
      () => other.verify.v2.services(service.sid).webhooks.list(),
    ])
      expect(
        await (call() as Promise<unknown>).then(
          () => null,
          (e: unknown) => e,
        ),
      ).toMatchObject({ status: 404 });
    expect((await hooks(w.sid).fetch()).status).toBe('enabled'); // unchanged
    // Under another of A's own services, the webhook does not exist either.
    const service2 = await client.verify.v2.services.create({ friendlyName: 'Other' });
    expect(
      await client.verify.v2
        .services(service2.sid)
        .webhooks(w.sid)
        .fetch()
        .then(
          () => null,
          (e: unknown) => e,
        ),
    ).toMatchObject({ status: 404 });
    await hooks(w.sid).remove();
  });

  it('a webhook the SDK created is signed with the account token: twilio.validateRequest accepts the delivery', async () => {
    const client = clientFor(a);
    const service = await client.verify.v2.services.create({ friendlyName: 'Signed' });
    const url = rx.url('/signed');
    await client.verify.v2.services(service.sid).webhooks.create({ friendlyName: 'x', eventTypes: ['factor.created'], webhookUrl: url });
    rx.skipSeen();
    await client.verify.v2.services(service.sid).entities('sdk-user-0001').newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
    const r = await rx.next();
    expect(r.path).toBe('/signed');
    expect(twilio.validateRequest(a.token, String(r.headers['x-twilio-signature']), url, formOf(r.body))).toBe(true);
    expect(formOf(r.body)).toMatchObject({
      type: 'factor.created',
      account_sid: a.sid,
      service_sid: service.sid,
      entity_identity: 'sdk-user-0001',
    });
  });
});
