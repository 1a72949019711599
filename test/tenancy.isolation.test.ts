import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import {
  CreateEntity, CreateService, DeleteEntity, DeleteService, GetEntity, GetService, ListEntities, ListServices, UpdateService, Viewer,
} from './support/documents.ts';
import { expectError } from './support/expect.ts';

// Every operation, run by tenant B against tenant A's resources: B must see exactly what it would
// see for a SID that does not exist, and A's data must be unchanged.
let t: TestApp;
let a: Tenant;
let b: Tenant;
let aService: string;
const missing = 'VA' + 'f'.repeat(32);

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount('A');
  b = await t.newAccount('B');
  aService = (await t.ok(CreateService, { input: { friendlyName: 'A service' } }, a.auth)).createService.sid;
  await t.ok(CreateEntity, { input: { serviceSid: aService, identity: 'alice-0001' } }, a.auth);
  await t.ok(CreateService, { input: { friendlyName: 'B service' } }, b.auth);
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
});
