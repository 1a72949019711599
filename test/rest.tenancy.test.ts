// Tenancy on the REST face: another account's URLs answer 404 exactly like URLs that do not exist,
// and nested resources are scoped by the path (service SID + identity), as Twilio scopes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { restError, startHttpTestApp, twilioClient, type HttpTestApp } from './support/http-server.ts';
import type { Tenant } from './support/app.ts';
import { oathCode, unix } from './support/oath.ts';

let t: HttpTestApp;
let a: Tenant;
let b: Tenant;
let clientA: twilio.Twilio;
let clientB: twilio.Twilio;
/** Tenant A's resources, made through the SDK. */
let A: { serviceSid: string; identity: string; factorSid: string; challengeSid: string; secret: string };

const clientFor = (tenant: Tenant) => twilioClient(t, tenant.sid, tenant.token);

const code = (secret: string) => oathCode(secret, {}, unix(t.clock.now()));

beforeAll(async () => {
  t = await startHttpTestApp();
  a = await t.newAccount('Tenant A');
  b = await t.newAccount('Tenant B');
  clientA = clientFor(a);
  clientB = clientFor(b);
  const service = await clientA.verify.v2.services.create({ friendlyName: 'A service' });
  const identity = 'tenant-a-user-1';
  const entity = clientA.verify.v2.services(service.sid).entities(identity);
  const factor = await entity.newFactors.create({ friendlyName: 'A phone', factorType: 'totp' });
  const secret = factor.binding.secret as string;
  await entity.factors(factor.sid).update({ authPayload: code(secret) });
  t.clock.advance(30_000);
  const challenge = await entity.challenges.create({ factorSid: factor.sid });
  A = { serviceSid: service.sid, identity, factorSid: factor.sid, challengeSid: challenge.sid, secret };
});
afterAll(() => t?.close());

describe("tenant B's credentials on tenant A's URLs → 404, nothing changes", () => {
  const cases: [string, () => Promise<unknown>][] = [
    ['fetch service', () => clientB.verify.v2.services(A.serviceSid).fetch()],
    ['update service', () => clientB.verify.v2.services(A.serviceSid).update({ friendlyName: 'Taken' })],
    ['delete service', () => clientB.verify.v2.services(A.serviceSid).remove()],
    ['list entities', () => clientB.verify.v2.services(A.serviceSid).entities.list()],
    ['create entity', () => clientB.verify.v2.services(A.serviceSid).entities.create({ identity: 'intruder-0001' })],
    ['fetch entity', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).fetch()],
    ['delete entity', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).remove()],
    [
      'create factor',
      () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).newFactors.create({ friendlyName: 'x', factorType: 'totp' }),
    ],
    ['list factors', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).factors.list()],
    ['fetch factor', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).factors(A.factorSid).fetch()],
    [
      'verify factor',
      () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).factors(A.factorSid).update({ authPayload: '123456' }),
    ],
    ['delete factor', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).factors(A.factorSid).remove()],
    ['create challenge', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).challenges.create({ factorSid: A.factorSid })],
    ['list challenges', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).challenges.list()],
    ['fetch challenge', () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).challenges(A.challengeSid).fetch()],
    [
      'verify challenge',
      () => clientB.verify.v2.services(A.serviceSid).entities(A.identity).challenges(A.challengeSid).update({ authPayload: '123456' }),
    ],
  ];

  it.each(cases)('%s → 404', async (_name, call) => {
    const e = await restError(call());
    expect(e.status).toBe(404);
  });

  it('answers exactly as for a service that does not exist (same code and message shape)', async () => {
    const theirs = await restError(clientB.verify.v2.services(A.serviceSid).fetch());
    const missing = await restError(clientB.verify.v2.services(`VA${'0'.repeat(32)}`).fetch());
    expect(theirs.code).toBe(20404);
    expect(missing.code).toBe(20404);
    expect(theirs.message.replace(A.serviceSid, 'SID')).toBe(missing.message.replace(`VA${'0'.repeat(32)}`, 'SID'));
  });

  it("B's lists do not show A's resources, and A's resources are intact", async () => {
    expect(await clientB.verify.v2.services.list()).toEqual([]);
    const entity = clientA.verify.v2.services(A.serviceSid).entities(A.identity);
    expect((await clientA.verify.v2.services(A.serviceSid).fetch()).friendlyName).toBe('A service');
    expect((await entity.factors(A.factorSid).fetch()).status).toBe('verified');
    expect((await entity.challenges(A.challengeSid).fetch()).status).toBe('pending');
    expect((await entity.factors.list()).map((f) => f.sid)).toEqual([A.factorSid]);
    // B's guesses above were never charged to A's challenge: A's right code still approves it.
    expect((await entity.challenges(A.challengeSid).update({ authPayload: code(A.secret) })).status).toBe('approved');
  });
});

describe('within one account, factors and challenges are scoped by the path (service SID + identity)', () => {
  it('a factor or challenge addressed under another identity → 60390 / 60391, 404', async () => {
    const other = clientA.verify.v2.services(A.serviceSid).entities('tenant-a-user-2');
    await other.newFactors.create({ friendlyName: 'Other phone', factorType: 'totp' });
    expect(await restError(other.factors(A.factorSid).fetch())).toMatchObject({ status: 404, code: 60390 });
    expect(await restError(other.challenges(A.challengeSid).fetch())).toMatchObject({ status: 404, code: 60391 });
    // Creating a challenge on another entity's factor is "no such factor", too.
    expect(await restError(other.challenges.create({ factorSid: A.factorSid }))).toMatchObject({ status: 404, code: 60390 });
  });

  it('a factor or challenge addressed under another service of the same account → 404', async () => {
    const service2 = await clientA.verify.v2.services.create({ friendlyName: 'A second service' });
    const same = clientA.verify.v2.services(service2.sid).entities(A.identity);
    expect(await restError(same.factors(A.factorSid).fetch())).toMatchObject({ status: 404, code: 60390 });
    expect(await restError(same.challenges(A.challengeSid).fetch())).toMatchObject({ status: 404, code: 60391 });
    expect(await restError(same.factors(A.factorSid).remove())).toMatchObject({ status: 404, code: 60390 });
    expect((await clientA.verify.v2.services(A.serviceSid).entities(A.identity).factors(A.factorSid).fetch()).sid).toBe(A.factorSid);
  });
});
