import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, basic, startTestApp, type TestApp } from './support/app.ts';
import { RotateAuthToken, Viewer } from './support/documents.ts';
import { expectError } from './support/expect.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const works = async (auth: string) => !(await t.gql(Viewer, {}, auth)).errors;

describe('rotateAuthToken', () => {
  it('with a grace period both tokens work until previousTokenValidUntil, then only the new one', async () => {
    const a = await t.newAccount();
    expect(await works(a.auth)).toBe(true); // now cached in this process
    const r = (await t.ok(RotateAuthToken, { input: { graceSeconds: 60 } }, a.auth)).rotateAuthToken;
    expect(r.authToken).toMatch(/^[0-9a-f]{64}$/);
    expect(new Date(r.previousTokenValidUntil!).getTime() - t.clock.now().getTime()).toBe(60_000);
    const fresh = basic(a.sid, r.authToken);
    expect(await works(fresh)).toBe(true);
    expect(await works(a.auth)).toBe(true);
    t.clock.advance(60_000);
    // Not even the authentication cache keeps a grace-period token past its end.
    expectError(await t.gql(Viewer, {}, a.auth), 'UNAUTHENTICATED');
    expect(await works(fresh)).toBe(true);
  });

  it('without a grace period the old token stops at once, cache included', async () => {
    const a = await t.newAccount();
    expect(await works(a.auth)).toBe(true);
    const r = (await t.ok(RotateAuthToken, { input: null }, a.auth)).rotateAuthToken;
    expect(r.previousTokenValidUntil).toBeNull();
    expectError(await t.gql(Viewer, {}, a.auth), 'UNAUTHENTICATED');
    expect(await works(basic(a.sid, r.authToken))).toBe(true);
  });

  it('the operator rotates any account; an account cannot rotate another (NOT_FOUND); no token in storage', async () => {
    const a = await t.newAccount();
    const b = await t.newAccount();
    expectError(await t.gql(RotateAuthToken, { input: { accountSid: b.sid } }, a.auth), 'NOT_FOUND');
    expect(await works(b.auth)).toBe(true);
    expectError(await t.gql(RotateAuthToken, { input: {} }, `Bearer ${ADMIN_TOKEN}`), 'INVALID_ARGUMENT', { field: 'accountSid' });
    const r = (await t.ok(RotateAuthToken, { input: { accountSid: b.sid, graceSeconds: 0 } }, `Bearer ${ADMIN_TOKEN}`)).rotateAuthToken;
    expect(r.account.sid).toBe(b.sid);
    expectError(await t.gql(Viewer, {}, b.auth), 'UNAUTHENTICATED');
    const row = await t.db.prisma.account.findUniqueOrThrow({ where: { sid: b.sid } });
    expect(JSON.stringify(row)).not.toContain(r.authToken);
    expectError(await t.gql(RotateAuthToken, { input: {} }), 'UNAUTHENTICATED');
  });

  it.each([-1, 604_801])('graceSeconds %d → INVALID_ARGUMENT', async (graceSeconds) => {
    const a = await t.newAccount();
    expectError(await t.gql(RotateAuthToken, { input: { graceSeconds } }, a.auth), 'INVALID_ARGUMENT', { field: 'graceSeconds' });
    expect(await works(a.auth)).toBe(true);
  });
});
