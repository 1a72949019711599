// A previous auth token in its rotation grace period may be the leaked one the rotation replaces:
// it keeps deployed clients reading and verifying, but it must never manage credentials or
// configuration — on GraphQL and on the REST face alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restError, startHttpTestApp, twilioClient, type HttpTestApp } from './support/http-server.ts';
import { ADMIN_TOKEN, basic, type GqlResult } from './support/app.ts';
import {
  CreateAccessToken,
  CreateAccount,
  CreateService,
  CreateTotpFactor,
  CreateWebhook,
  DeleteService,
  DeleteWebhook,
  GetService,
  ListWebhooks,
  RotateAuthToken,
  UpdateService,
  UpdateWebhook,
  VerifyFactor,
  Viewer,
} from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { oathCode, unix } from './support/oath.ts';

let t: HttpTestApp;
beforeAll(async () => {
  t = await startHttpTestApp({ VERITY_WEBHOOK_ALLOW_PRIVATE: 'true' });
});
afterAll(() => t?.close());

const HOOK_URL = 'http://127.0.0.1:9/hook';

/** An account with a service and a webhook, whose token was then rotated with an hour of grace: OLD → NEW. */
async function rotatedAccount() {
  const a = await t.newAccount('Grace');
  const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Prod' } }, a.auth)).createService.sid;
  const webhookSid = (
    await t.ok(CreateWebhook, { input: { serviceSid, friendlyName: 'Hook', webhookUrl: HOOK_URL, eventTypes: ['*'] } }, a.auth)
  ).createWebhook.webhook.sid;
  const r = (await t.ok(RotateAuthToken, { input: { graceSeconds: 3600 } }, a.auth)).rotateAuthToken;
  return { sid: a.sid, oldToken: a.token, old: a.auth, newToken: r.authToken, new: basic(a.sid, r.authToken), serviceSid, webhookSid };
}

const graceRefusal = (e: { message: string; extensions?: Record<string, unknown> }) => {
  expect(e.extensions?.twilioCode).toBe(20403);
  expect(e.message).toMatch(/grace period/);
};

describe('a leaked auth token in its grace period cannot take the account (GraphQL)', () => {
  it('rotateAuthToken(graceSeconds: 0) with the OLD token → FORBIDDEN; NEW keeps working', async () => {
    const a = await rotatedAccount();
    graceRefusal(expectError(await t.gql(RotateAuthToken, { input: { graceSeconds: 0 } }, a.old), 'FORBIDDEN'));
    expect((await t.gql(Viewer, {}, a.new)).errors).toBeUndefined();
    // The holder of NEW still manages the account, and can cut OLD off at once.
    await t.ok(RotateAuthToken, { input: { graceSeconds: 0 } }, a.new);
    expectError(await t.gql(Viewer, {}, a.old), 'UNAUTHENTICATED');
  });

  it('every credential and configuration mutation with the OLD token → FORBIDDEN, nothing changes', async () => {
    const a = await rotatedAccount();
    const attempts: Record<string, () => Promise<GqlResult<unknown>>> = {
      rotateAuthToken: () => t.gql(RotateAuthToken, { input: { graceSeconds: 60 } }, a.old),
      createAccessToken: () => t.gql(CreateAccessToken, { input: { serviceSid: a.serviceSid, identity: 'user-grace-1' } }, a.old),
      createService: () => t.gql(CreateService, { input: { friendlyName: 'Planted' } }, a.old),
      updateService: () =>
        t.gql(UpdateService, { input: { sid: a.serviceSid, friendlyName: 'Taken', allowedOrigins: ['https://evil.example'] } }, a.old),
      deleteService: () => t.gql(DeleteService, { sid: a.serviceSid }, a.old),
      createWebhook: () =>
        t.gql(
          CreateWebhook,
          { input: { serviceSid: a.serviceSid, friendlyName: 'Exfil', webhookUrl: 'http://127.0.0.1:9/evil', eventTypes: ['*'] } },
          a.old,
        ),
      updateWebhook: () => t.gql(UpdateWebhook, { input: { sid: a.webhookSid, webhookUrl: 'http://127.0.0.1:9/evil' } }, a.old),
      deleteWebhook: () => t.gql(DeleteWebhook, { sid: a.webhookSid }, a.old),
      createAccount: () => t.gql(CreateAccount, { input: { friendlyName: 'Sibling' } }, a.old),
    };
    for (const [name, attempt] of Object.entries(attempts)) {
      const e = expectError(await attempt(), 'FORBIDDEN');
      if (name !== 'createAccount') graceRefusal(e); // an account never creates accounts: the operator's refusal says so
    }
    expect(
      await t.db.prisma.service.findMany({ where: { accountSid: a.sid }, select: { sid: true, friendlyName: true, allowedOrigins: true } }),
    ).toEqual([{ sid: a.serviceSid, friendlyName: 'Prod', allowedOrigins: [] }]);
    const hooks = (await t.ok(ListWebhooks, { serviceSid: a.serviceSid }, a.new)).webhooks;
    expect(hooks.edges.map((e) => [e.node.sid, e.node.webhookUrl])).toEqual([[a.webhookSid, HOOK_URL]]);
    expect((await t.ok(Viewer, {}, a.new)).viewer).toBeDefined();
  });

  it('the OLD token still reads and runs TOTP checks until its grace ends', async () => {
    const a = await rotatedAccount();
    expect((await t.ok(GetService, { sid: a.serviceSid }, a.old)).service?.sid).toBe(a.serviceSid);
    const { createTotpFactor } = await t.ok(
      CreateTotpFactor,
      { input: { serviceSid: a.serviceSid, identity: 'user-grace-2', friendlyName: 'Phone' } },
      a.old,
    );
    const code = oathCode(createTotpFactor.binding.secret, {}, unix(t.clock.now()));
    const verified = await t.ok(VerifyFactor, { input: { factorSid: createTotpFactor.factor.sid, authPayload: code } }, a.old);
    expect(verified.verifyFactor.status).toBe('VERIFIED');
  });

  it('the operator still rotates any account (operator credentials have no grace period)', async () => {
    const a = await rotatedAccount();
    await t.ok(RotateAuthToken, { input: { accountSid: a.sid, graceSeconds: 0 } }, `Bearer ${ADMIN_TOKEN}`);
    expectError(await t.gql(Viewer, {}, a.new), 'UNAUTHENTICATED');
  });
});

describe('a leaked auth token in its grace period cannot take the account (REST, twilio-node)', () => {
  it('service and webhook create/update/delete with the OLD token → 403 (20403); reads and TOTP still work; nothing changes', async () => {
    const a = await rotatedAccount();
    const old = twilioClient(t, a.sid, a.oldToken).verify.v2.services;
    const attempts: [string, () => Promise<unknown>][] = [
      ['create service', () => old.create({ friendlyName: 'Planted' })],
      ['update service', () => old(a.serviceSid).update({ friendlyName: 'Taken' })],
      ['delete service', () => old(a.serviceSid).remove()],
      [
        'create webhook',
        () => old(a.serviceSid).webhooks.create({ friendlyName: 'Exfil', eventTypes: ['*'], webhookUrl: 'http://127.0.0.1:9/evil' }),
      ],
      ['update webhook', () => old(a.serviceSid).webhooks(a.webhookSid).update({ webhookUrl: 'http://127.0.0.1:9/evil' })],
      ['delete webhook', () => old(a.serviceSid).webhooks(a.webhookSid).remove()],
    ];
    for (const [name, attempt] of attempts) {
      const e = await restError(attempt());
      expect([name, e.status, e.code]).toEqual([name, 403, 20403]);
      expect(e.message).toMatch(/grace period/);
    }
    expect((await old(a.serviceSid).fetch()).friendlyName).toBe('Prod');
    expect((await old(a.serviceSid).webhooks(a.webhookSid).fetch()).webhookUrl).toBe(HOOK_URL);
    expect((await old.list()).map((s) => s.sid)).toEqual([a.serviceSid]);
    const factor = await old(a.serviceSid).entities('user-grace-3').newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
    const code = oathCode(factor.binding.secret as string, {}, unix(t.clock.now()));
    expect((await old(a.serviceSid).entities('user-grace-3').factors(factor.sid).update({ authPayload: code })).status).toBe('verified');
    // The current token manages as before.
    const current = twilioClient(t, a.sid, a.newToken).verify.v2.services;
    expect((await current(a.serviceSid).update({ friendlyName: 'Renamed' })).friendlyName).toBe('Renamed');
  });
});
