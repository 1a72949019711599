import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateEntity, CreateService, DeleteEntity, DeleteService, GetEntity, ListEntities } from './support/documents.ts';
import { expectError } from './support/expect.ts';

let t: TestApp;
let a: Tenant;
let serviceSid: string;
beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount();
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Entities' } }, a.auth)).createService.sid;
});
afterAll(() => t.close());

describe('entities', () => {
  it('creates, reads by identity, lists, deletes', async () => {
    const { createEntity } = await t.ok(CreateEntity, { input: { serviceSid, identity: 'user-0001' } }, a.auth);
    expect(createEntity).toMatchObject({ identity: 'user-0001', serviceSid, accountSid: a.sid });
    expect(createEntity.sid).toMatch(/^YE[0-9a-f]{32}$/);
    expect((await t.ok(GetEntity, { serviceSid, identity: 'user-0001' }, a.auth)).entity?.sid).toBe(createEntity.sid);
    const list = await t.ok(ListEntities, { sid: serviceSid }, a.auth);
    expect(list.service?.entities.edges.map((e) => e.node.identity)).toContain('user-0001');
    expect((await t.ok(DeleteEntity, { serviceSid, identity: 'user-0001' }, a.auth)).deleteEntity.deletedSid).toBe(createEntity.sid);
    expect((await t.ok(GetEntity, { serviceSid, identity: 'user-0001' }, a.auth)).entity).toBeNull();
    expectError(await t.gql(DeleteEntity, { serviceSid, identity: 'user-0001' }, a.auth), 'NOT_FOUND', { twilioCode: 60392 });
  });

  it('the same identity twice in one service → CONFLICT; in another service it is a different entity', async () => {
    await t.ok(CreateEntity, { input: { serviceSid, identity: 'dup-identity' } }, a.auth);
    const before = await t.db.prisma.entity.count();
    expectError(await t.gql(CreateEntity, { input: { serviceSid, identity: 'dup-identity' } }, a.auth), 'CONFLICT');
    expect(await t.db.prisma.entity.count()).toBe(before);
    const other = (await t.ok(CreateService, { input: { friendlyName: 'Other' } }, a.auth)).createService.sid;
    await t.ok(CreateEntity, { input: { serviceSid: other, identity: 'dup-identity' } }, a.auth);
  });

  it('on an unknown service → NOT_FOUND', async () => {
    expectError(await t.gql(CreateEntity, { input: { serviceSid: 'VA' + '0'.repeat(32), identity: 'user-0002' } }, a.auth), 'NOT_FOUND');
  });

  it('deleting the service deletes its entities', async () => {
    const s = (await t.ok(CreateService, { input: { friendlyName: 'Cascade' } }, a.auth)).createService.sid;
    await t.ok(CreateEntity, { input: { serviceSid: s, identity: 'cascade-01' } }, a.auth);
    await t.ok(DeleteService, { sid: s }, a.auth);
    expect(await t.db.prisma.entity.count({ where: { serviceSid: s } })).toBe(0);
  });

  it.each([
    ['too short', 'abc-1234'.slice(0, 7)],
    ['too long', 'a'.repeat(65)],
    ['underscore', 'user_0001'],
    ['leading dash', '-user0001'],
    ['double dash', 'user--0001'],
    ['space', 'user 0001'],
    ['email (PII)', 'bob@example.com'],
  ])('identity %s → INVALID_ARGUMENT', async (_n, identity) => {
    expectError(await t.gql(CreateEntity, { input: { serviceSid, identity } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'identity',
      twilioCode: 60200,
    });
  });

  it('accepts identities of 8 and 64 characters and UUIDs', async () => {
    for (const identity of ['a1234567', 'b'.repeat(64), 'c3b9a7e2-1f4d-4e0a-9b7c-2d5e8f1a3b6c']) {
      await t.ok(CreateEntity, { input: { serviceSid, identity } }, a.auth);
    }
  });
});
