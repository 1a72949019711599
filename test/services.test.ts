import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateService, DeleteService, GetService, ListServices, UpdateService } from './support/documents.ts';
import { expectError } from './support/expect.ts';

let t: TestApp;
let a: Tenant;
beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount();
});
afterAll(() => t.close());

describe('services', () => {
  it('creates with TOTP defaults and reads them back', async () => {
    const { createService } = await t.ok(
      CreateService,
      { input: { friendlyName: 'Prod', totp: { issuer: 'Acme', timeStep: 60, codeLength: 8, skew: 2 } } },
      a.auth,
    );
    expect(createService).toMatchObject({
      accountSid: a.sid,
      friendlyName: 'Prod',
      totp: { issuer: 'Acme', timeStep: 60, codeLength: 8, skew: 2 },
    });
    expect(createService.sid).toMatch(/^VA[0-9a-f]{32}$/);
    const { service } = await t.ok(GetService, { sid: createService.sid }, a.auth);
    expect(service?.totp).toEqual({ issuer: 'Acme', timeStep: 60, codeLength: 8, skew: 2 });
  });

  it('a service without TOTP defaults shows null fields (Twilio falls back to 30 s / 6 digits / skew 1)', async () => {
    const { createService } = await t.ok(CreateService, { input: { friendlyName: 'Plain' } }, a.auth);
    expect(createService.totp).toEqual({ issuer: null, timeStep: null, codeLength: null, skew: null });
  });

  it('updates: omitted fields kept, null clears a default', async () => {
    const { createService } = await t.ok(CreateService, { input: { friendlyName: 'Upd', totp: { issuer: 'I', skew: 0 } } }, a.auth);
    t.clock.advance(1000);
    const { updateService } = await t.ok(
      UpdateService,
      { input: { sid: createService.sid, friendlyName: 'Renamed', totp: { skew: null, codeLength: 7 } } },
      a.auth,
    );
    expect(updateService).toMatchObject({ friendlyName: 'Renamed', totp: { issuer: 'I', skew: null, codeLength: 7, timeStep: null } });
    const { updateService: again } = await t.ok(UpdateService, { input: { sid: createService.sid } }, a.auth);
    expect(again.friendlyName).toBe('Renamed');
  });

  it('deletes, and the SID then answers NOT_FOUND / null', async () => {
    const { createService } = await t.ok(CreateService, { input: { friendlyName: 'Gone' } }, a.auth);
    expect((await t.ok(DeleteService, { sid: createService.sid }, a.auth)).deleteService.deletedSid).toBe(createService.sid);
    expect((await t.ok(GetService, { sid: createService.sid }, a.auth)).service).toBeNull();
    expectError(await t.gql(DeleteService, { sid: createService.sid }, a.auth), 'NOT_FOUND', { twilioCode: 20404 });
    expectError(await t.gql(UpdateService, { input: { sid: createService.sid } }, a.auth), 'NOT_FOUND');
  });

  it('malformed SIDs read as not found, not as an internal error', async () => {
    expect((await t.ok(GetService, { sid: 'nope' }, a.auth)).service).toBeNull();
    expectError(await t.gql(DeleteService, { sid: "VA' OR 1=1" }, a.auth), 'NOT_FOUND');
  });

  it('pages through services with Relay cursors, in creation order', async () => {
    const b = await t.newAccount();
    const sids: string[] = [];
    for (let i = 0; i < 7; i++) {
      sids.push((await t.ok(CreateService, { input: { friendlyName: `S${i}` } }, b.auth)).createService.sid);
    }
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const {
        services,
      }: {
        services: { totalCount: number; edges: { node: { sid: string } }[]; pageInfo: { hasNextPage: boolean; endCursor?: string | null } };
      } = await t.ok(ListServices, { first: 3, after }, b.auth);
      expect(services.totalCount).toBe(7);
      seen.push(...services.edges.map((e) => e.node.sid));
      if (!services.pageInfo.hasNextPage) break;
      after = services.pageInfo.endCursor!;
    }
    expect(seen).toEqual(sids);
    expectError(await t.gql(ListServices, { first: 0 }, b.auth), 'INVALID_ARGUMENT', { field: 'first' });
    expectError(await t.gql(ListServices, { first: 1001 }, b.auth), 'INVALID_ARGUMENT', { field: 'first' });
    expectError(await t.gql(ListServices, { after: 'garbage' }, b.auth), 'INVALID_ARGUMENT', { field: 'after' });
    expect((await t.ok(ListServices, { first: 1000 }, b.auth)).services.edges).toHaveLength(7);
  });
});

describe('service limits (docs/api-contract.md) → INVALID_ARGUMENT with the field', () => {
  it.each([
    ['friendlyName', { friendlyName: 'x'.repeat(31) }],
    ['friendlyName', { friendlyName: '   ' }],
    ['totp.timeStep', { friendlyName: 'ok', totp: { timeStep: 19 } }],
    ['totp.timeStep', { friendlyName: 'ok', totp: { timeStep: 61 } }],
    ['totp.codeLength', { friendlyName: 'ok', totp: { codeLength: 2 } }],
    ['totp.codeLength', { friendlyName: 'ok', totp: { codeLength: 9 } }],
    ['totp.skew', { friendlyName: 'ok', totp: { skew: -1 } }],
    ['totp.skew', { friendlyName: 'ok', totp: { skew: 3 } }],
    ['totp.issuer', { friendlyName: 'ok', totp: { issuer: 'a:b' } }],
    ['totp.issuer', { friendlyName: 'ok', totp: { issuer: 'x'.repeat(101) } }],
  ])('%s: %j', async (field, input) => {
    const before = await t.db.prisma.service.count();
    expectError(await t.gql(CreateService, { input }, a.auth), 'INVALID_ARGUMENT', { field, twilioCode: 60200 });
    expect(await t.db.prisma.service.count()).toBe(before); // nothing half-written
  });

  it('accepts the limits themselves', async () => {
    const r = await t.ok(
      CreateService,
      { input: { friendlyName: 'x'.repeat(30), totp: { timeStep: 20, codeLength: 3, skew: 0 } } },
      a.auth,
    );
    expect(r.createService.totp).toMatchObject({ timeStep: 20, codeLength: 3, skew: 0 });
    const r2 = await t.ok(CreateService, { input: { friendlyName: 'y', totp: { timeStep: 60, codeLength: 8, skew: 2 } } }, a.auth);
    expect(r2.createService.totp).toMatchObject({ timeStep: 60, codeLength: 8, skew: 2 });
  });

  it('updateService applies the same limits', async () => {
    const { createService } = await t.ok(CreateService, { input: { friendlyName: 'lim' } }, a.auth);
    expectError(await t.gql(UpdateService, { input: { sid: createService.sid, totp: { skew: 5 } } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'totp.skew',
    });
    expectError(
      await t.gql(UpdateService, { input: { sid: createService.sid, friendlyName: 'z'.repeat(31) } }, a.auth),
      'INVALID_ARGUMENT',
      { field: 'friendlyName' },
    );
  });
});
