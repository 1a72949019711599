import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import {
  CreateEntity,
  CreateService,
  CreateTotpFactor,
  DeleteEntity,
  DeleteFactor,
  DeleteService,
  GetEntity,
  GetFactor,
  GetService,
  ListEntities,
  ListFactors,
  ListServices,
  UpdateFactor,
  UpdateService,
  VerifyFactor,
  Viewer,
  CreateChallenge,
  GetChallenge,
  ListChallenges,
  VerifyChallenge,
} from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { oathCode, unix } from './support/oath.ts';
import { expectError } from './support/expect.ts';

// Every operation, run by tenant B against tenant A's resources: B must see exactly what it would
// see for a SID that does not exist, and A's data must be unchanged.
let t: TestApp;
let a: Tenant;
let b: Tenant;
let aService: string;
let aFactor: { sid: string; secret: string };
const missing = 'VA' + 'f'.repeat(32);

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount('A');
  b = await t.newAccount('B');
  aService = (await t.ok(CreateService, { input: { friendlyName: 'A service' } }, a.auth)).createService.sid;
  await t.ok(CreateEntity, { input: { serviceSid: aService, identity: 'alice-0001' } }, a.auth);
  await t.ok(CreateService, { input: { friendlyName: 'B service' } }, b.auth);
  const f = await t.ok(CreateTotpFactor, { input: { serviceSid: aService, identity: 'alice-0001', friendlyName: 'Alice phone' } }, a.auth);
  aFactor = { sid: f.createTotpFactor.factor.sid, secret: f.createTotpFactor.binding.secret };
});
afterAll(() => t.close());

describe('tenant isolation (two tenants)', () => {
  it('viewer is the caller', async () => {
    expect((await t.ok(Viewer, {}, b.auth)).viewer.sid).toBe(b.sid);
  });

  it('service(sid) → null, like a SID that does not exist', async () => {
    expect((await t.ok(GetService, { sid: aService }, b.auth)).service).toBeNull();
    expect((await t.ok(GetService, { sid: missing }, b.auth)).service).toBeNull();
  });

  it('services lists only the caller’s', async () => {
    const { services } = await t.ok(ListServices, {}, b.auth);
    expect(services.edges.map((e) => e.node.sid)).not.toContain(aService);
    expect(services.totalCount).toBe(1);
  });

  it('updateService / deleteService → NOT_FOUND, same as a missing SID, and nothing changes', async () => {
    for (const sid of [aService, missing]) {
      const u = expectError(await t.gql(UpdateService, { input: { sid, friendlyName: 'pwned' } }, b.auth), 'NOT_FOUND');
      expect(u.message).toBe(`Service ${sid} not found`);
      expectError(await t.gql(DeleteService, { sid }, b.auth), 'NOT_FOUND');
    }
    expect((await t.ok(GetService, { sid: aService }, a.auth)).service?.friendlyName).toBe('A service');
  });

  it('createEntity in another tenant’s service → NOT_FOUND', async () => {
    expectError(await t.gql(CreateEntity, { input: { serviceSid: aService, identity: 'mallory-01' } }, b.auth), 'NOT_FOUND');
    expect(await t.db.prisma.entity.count({ where: { serviceSid: aService } })).toBe(1);
  });

  it('entity / deleteEntity / service.entities across tenants find nothing', async () => {
    expect((await t.ok(GetEntity, { serviceSid: aService, identity: 'alice-0001' }, b.auth)).entity).toBeNull();
    expectError(await t.gql(DeleteEntity, { serviceSid: aService, identity: 'alice-0001' }, b.auth), 'NOT_FOUND');
    expect((await t.ok(ListEntities, { sid: aService }, b.auth)).service).toBeNull();
    expect((await t.ok(GetEntity, { serviceSid: aService, identity: 'alice-0001' }, a.auth)).entity).not.toBeNull();
  });

  it('a cursor minted by one tenant reveals nothing to another', async () => {
    const { services } = await t.ok(ListServices, { first: 1 }, a.auth);
    const r = await t.ok(ListServices, { after: services.pageInfo.endCursor }, b.auth);
    expect(r.services.edges.every((e) => e.node.sid !== aService)).toBe(true);
  });

  it('createTotpFactor in another tenant’s service → NOT_FOUND, nothing written', async () => {
    const before = await t.db.prisma.factor.count();
    expectError(
      await t.gql(CreateTotpFactor, { input: { serviceSid: aService, identity: 'alice-0001', friendlyName: 'evil' } }, b.auth),
      'NOT_FOUND',
    );
    expect(await t.db.prisma.factor.count()).toBe(before);
  });

  it('factor / verifyFactor / updateFactor / deleteFactor / entity.factors: another tenant’s factor does not exist', async () => {
    const code = oathCode(aFactor.secret, {}, unix(t.clock.now()));
    expect((await t.ok(GetFactor, { sid: aFactor.sid }, b.auth)).factor).toBeNull();
    const missingFactor = 'YF' + '0'.repeat(32);
    for (const sid of [aFactor.sid, missingFactor]) {
      const v = expectError(await t.gql(VerifyFactor, { input: { factorSid: sid, authPayload: code } }, b.auth), 'NOT_FOUND', {
        twilioCode: 60390,
      });
      expect(v.message).toBe(`Factor ${sid} not found`);
      expectError(await t.gql(UpdateFactor, { input: { factorSid: sid, friendlyName: 'pwned' } }, b.auth), 'NOT_FOUND');
      expectError(await t.gql(DeleteFactor, { sid }, b.auth), 'NOT_FOUND');
    }
    expect((await t.ok(ListFactors, { serviceSid: aService, identity: 'alice-0001' }, b.auth)).entity).toBeNull();
    // A's factor is untouched: still unverified, same name, and A's code still works for A.
    const mine = (await t.ok(GetFactor, { sid: aFactor.sid }, a.auth)).factor!;
    expect(mine).toMatchObject({ status: 'UNVERIFIED', friendlyName: 'Alice phone' });
    expect((await t.ok(VerifyFactor, { input: { factorSid: aFactor.sid, authPayload: code } }, a.auth)).verifyFactor.status).toBe(
      'VERIFIED',
    );
  });

  it('createChallenge / challenge / verifyChallenge / entity.challenges: another tenant’s do not exist', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    const before = await t.db.prisma.challenge.count();
    expectError(await t.gql(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, b.auth), 'NOT_FOUND', {
      twilioCode: 60390,
    });
    expect(await t.db.prisma.challenge.count()).toBe(before);
    expect((await t.ok(GetChallenge, { sid: c.sid }, b.auth)).challenge).toBeNull();
    for (const sid of [c.sid, 'YC' + '1'.repeat(32)]) {
      const e = expectError(await t.gql(VerifyChallenge, { input: { challengeSid: sid, authPayload: f.code() } }, b.auth), 'NOT_FOUND', {
        twilioCode: 60391,
      });
      expect(e.message).toBe(`Challenge ${sid} not found`);
    }
    expect((await t.ok(ListChallenges, { serviceSid: f.serviceSid, identity: f.identity }, b.auth)).entity).toBeNull();
    // B's attempts cost A nothing: the code still approves A's challenge.
    expect((await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth)).verifyChallenge.status).toBe(
      'APPROVED',
    );
  });
});
