import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, basic, startTestApp, type TestApp } from './support/app.ts';
import { CreateAccount, CreateService, Viewer } from './support/documents.ts';
import { expectError } from './support/expect.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const operator = `Bearer ${ADMIN_TOKEN}`;

describe('authentication and accounts', () => {
  it('the operator creates an account whose token works once shown', async () => {
    const { createAccount } = await t.ok(CreateAccount, { input: { friendlyName: 'Acme' } }, operator);
    expect(createAccount.account.sid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(createAccount.authToken).toMatch(/^[0-9a-f]{64}$/); // 32 random bytes
    const { viewer } = await t.ok(Viewer, {}, basic(createAccount.account.sid, createAccount.authToken));
    expect(viewer).toMatchObject({ sid: createAccount.account.sid, friendlyName: 'Acme' });
  });

  it('stores only a hash of the auth token', async () => {
    const a = await t.newAccount();
    const row = await t.db.prisma.account.findUniqueOrThrow({ where: { sid: a.sid } });
    expect(JSON.stringify(row)).not.toContain(a.token);
  });

  it('an account token may not create accounts (FORBIDDEN); no credentials → UNAUTHENTICATED', async () => {
    const a = await t.newAccount();
    expectError(await t.gql(CreateAccount, { input: { friendlyName: 'x' } }, a.auth), 'FORBIDDEN', { twilioCode: 20403 });
    expectError(await t.gql(CreateAccount, { input: { friendlyName: 'x' } }), 'UNAUTHENTICATED', { twilioCode: 20003 });
    expectError(await t.gql(CreateAccount, { input: { friendlyName: 'x' } }, 'Bearer wrong-token'), 'UNAUTHENTICATED');
  });

  it('the operator token cannot act as an account', async () => {
    expectError(await t.gql(Viewer, {}, operator), 'FORBIDDEN');
    expectError(await t.gql(CreateService, { input: { friendlyName: 'x' } }, operator), 'FORBIDDEN');
  });

  it.each([
    ['no header', null],
    ['wrong token', 'WRONG'],
    ['unknown account', 'UNKNOWN'],
    ['not base64', 'Basic %%%'],
    ['no colon', `Basic ${Buffer.from('ACnothing').toString('base64')}`],
    ['other scheme', 'Digest abc'],
  ])('%s → UNAUTHENTICATED, revealing nothing', async (_name, header) => {
    const a = await t.newAccount();
    let auth = header;
    if (header === 'WRONG') auth = basic(a.sid, 'f'.repeat(64));
    if (header === 'UNKNOWN') auth = basic('AC' + '0'.repeat(32), a.token);
    const r = await t.gql(Viewer, {}, auth);
    const err = expectError(r, 'UNAUTHENTICATED', { twilioCode: 20003 });
    expect(err.message).not.toContain(a.sid);
  });

  it('accepts an uppercase-hex account SID like Twilio', async () => {
    const a = await t.newAccount();
    const upper = 'AC' + a.sid.slice(2).toUpperCase();
    expect((await t.ok(Viewer, {}, basic(upper, a.token))).viewer.sid).toBe(a.sid);
  });

  it('validates createAccount input', async () => {
    expectError(await t.gql(CreateAccount, { input: { friendlyName: '' } }, operator), 'INVALID_ARGUMENT', { field: 'friendlyName' });
  });
});
