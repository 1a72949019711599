import { randomBytes } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptSeed } from '../src/domain/seed-crypto.ts';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, ACCESS_TOKEN_TYP, rotateAccessTokenKey } from '../src/auth/access-tokens.ts';
import { serviceChanged } from '../src/auth/origins.ts';
import { systemAad } from '../src/infra/keys.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import {
  CreateAccessToken,
  CreateChallenge,
  CreateService,
  CreateTotpFactor,
  GetChallenge,
  GetFactor,
  ListChallenges,
  ListFactors,
  VerifyChallenge,
  VerifyFactor,
  Viewer,
} from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { verifiedFactor } from './support/flows.ts';
import { oathCode, unix } from './support/oath.ts';

let t: TestApp;
let a: Tenant;
let b: Tenant;
let serviceA: string;

beforeAll(async () => {
  // Many forged tokens from one address on purpose: the failed-auth limit (tested in limits.rate) is off here.
  t = await startTestApp({ VERITY_RATE_LIMIT_AUTH_FAILURES: '0', VERITY_RATE_LIMIT_IDENTITY_PER_SECOND: '0' }); // limits have their own tests (limits.rate)
  a = await t.newAccount('A');
  b = await t.newAccount('B');
  serviceA = (await t.ok(CreateService, { input: { friendlyName: 'Browser app' } }, a.auth)).createService.sid;
});
afterAll(() => t.close());

const bearer = (token: string) => `Bearer ${token}`;
async function mint(tenant: Tenant, serviceSid: string, identity: string, ttlSeconds?: number) {
  return (await t.ok(CreateAccessToken, { input: { serviceSid, identity, ttlSeconds } }, tenant.auth)).createAccessToken;
}
/** The HMAC key a token names, read the way Verity stores it: a test standing in for a key thief. */
async function keyOf(kid: string): Promise<Uint8Array> {
  const row = await t.deps.prisma.systemKey.findUniqueOrThrow({ where: { name: `access-token:${kid}` } });
  return decryptSeed(t.deps.keyring, row.keyId, row.ciphertext, systemAad(row.name));
}
const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('createAccessToken', () => {
  it('mints a signed HS256 JWT bound to account, service and identity, 600 s by default', async () => {
    const { token, expiresAt } = await mint(a, serviceA, 'user-token-1');
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    expect(header).toMatchObject({ alg: 'HS256', typ: ACCESS_TOKEN_TYP });
    expect(header.kid).toMatch(/^at\d{8}-[0-9a-f]{8}$/);
    expect(claims).toMatchObject({
      iss: ACCESS_TOKEN_ISSUER,
      aud: ACCESS_TOKEN_AUDIENCE,
      sub: 'user-token-1',
      account: a.sid,
      service: serviceA,
    });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(claims.iat).toBe(unix(t.clock.now()));
    expect(claims.jti).toMatch(/^[0-9a-f]{32}$/);
    expect(new Date(expiresAt).getTime()).toBe(claims.exp! * 1000);
    // The identity need not exist yet, and minting does not create it.
    expect(await t.deps.prisma.entity.count({ where: { identity: 'user-token-1' } })).toBe(0);
  });

  it('ttlSeconds 60–3600; a bad identity or TTL is INVALID_ARGUMENT naming the field', async () => {
    const ok = await mint(a, serviceA, 'user-token-2', 3600);
    expect(new Date(ok.expiresAt).getTime()).toBe((unix(t.clock.now()) + 3600) * 1000);
    for (const ttlSeconds of [59, 3601, 0, -5]) {
      expectError(
        await t.gql(CreateAccessToken, { input: { serviceSid: serviceA, identity: 'user-token-2', ttlSeconds } }, a.auth),
        'INVALID_ARGUMENT',
        { field: 'ttlSeconds' },
      );
    }
    expectError(await t.gql(CreateAccessToken, { input: { serviceSid: serviceA, identity: 'no' } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'identity',
    });
  });

  it('the service must be the caller’s: another account’s service is NOT_FOUND', async () => {
    expectError(await t.gql(CreateAccessToken, { input: { serviceSid: serviceA, identity: 'user-token-3' } }, b.auth), 'NOT_FOUND', {
      twilioCode: 20404,
    });
    expectError(
      await t.gql(CreateAccessToken, { input: { serviceSid: 'VA' + '0'.repeat(32), identity: 'user-token-3' } }, a.auth),
      'NOT_FOUND',
    );
  });

  it('only account credentials mint: operator and access tokens are FORBIDDEN, nobody is UNAUTHENTICATED', async () => {
    const input = { serviceSid: serviceA, identity: 'user-token-4' };
    expectError(await t.gql(CreateAccessToken, { input }, `Bearer ${ADMIN_TOKEN}`), 'FORBIDDEN');
    const { token } = await mint(a, serviceA, 'user-token-4');
    expectError(await t.gql(CreateAccessToken, { input }, bearer(token)), 'FORBIDDEN');
    expectError(await t.gql(CreateAccessToken, { input }), 'UNAUTHENTICATED');
  });
});

describe('a browser with an access token', () => {
  it('enrols, verifies, challenges and reads its own identity, end to end', async () => {
    const identity = 'browser-user-1';
    const { token } = await mint(a, serviceA, identity);
    const auth = bearer(token);
    const created = (await t.ok(CreateTotpFactor, { input: { serviceSid: serviceA, identity, friendlyName: 'Phone' } }, auth))
      .createTotpFactor;
    expect(created.binding.secret).toMatch(/^[A-Z2-7]+$/); // the browser shows the QR code itself
    const factorSid = created.factor.sid;
    const verified = (
      await t.ok(VerifyFactor, { input: { factorSid, authPayload: oathCode(created.binding.secret, {}, unix(t.clock.now())) } }, auth)
    ).verifyFactor;
    expect(verified.status).toBe('VERIFIED');
    t.clock.advance(30_000);
    const pending = (await t.ok(CreateChallenge, { input: { factorSid, details: { message: 'Sign in' } } }, auth)).createChallenge;
    expect(pending.status).toBe('PENDING');
    const approved = (
      await t.ok(
        VerifyChallenge,
        { input: { challengeSid: pending.sid, authPayload: oathCode(created.binding.secret, {}, unix(t.clock.now())) } },
        auth,
      )
    ).verifyChallenge;
    expect(approved.status).toBe('APPROVED');
    expect((await t.ok(GetFactor, { sid: factorSid }, auth)).factor).toMatchObject({
      sid: factorSid,
      status: 'VERIFIED',
      entity: { identity },
    });
    expect((await t.ok(GetChallenge, { sid: pending.sid }, auth)).challenge).toMatchObject({
      sid: pending.sid,
      status: 'APPROVED',
      factor: { sid: factorSid },
    });
    const lists = await t.ok(ListFactors, { serviceSid: serviceA, identity }, auth);
    expect(lists.entity!.factors.edges.map((e) => e.node.sid)).toEqual([factorSid]);
    const challenges = await t.ok(ListChallenges, { serviceSid: serviceA, identity }, auth);
    expect(challenges.entity!.challenges.edges.map((e) => e.node.sid)).toEqual([pending.sid]);
  });

  it('never sees nor sets hiddenDetails (Twilio: for the backend, not the end user); the account does', async () => {
    const f = await verifiedFactor(t, a, { serviceSid: serviceA, identity: 'browser-user-2' });
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, hiddenDetails: { ip: '203.0.113.9' } } }, a.auth))
      .createChallenge;
    const { token } = await mint(a, serviceA, f.identity);
    expect((await t.ok(GetChallenge, { sid: c.sid }, bearer(token))).challenge!.hiddenDetails).toBeNull();
    expect((await t.ok(GetChallenge, { sid: c.sid }, a.auth)).challenge!.hiddenDetails).toEqual({ ip: '203.0.113.9' });
    const before = await t.deps.prisma.challenge.count();
    expectError(
      await t.gql(CreateChallenge, { input: { factorSid: f.factorSid, hiddenDetails: { ip: '198.51.100.1' } } }, bearer(token)),
      'FORBIDDEN',
    );
    expect(await t.deps.prisma.challenge.count()).toBe(before);
  });

  it('another identity or service of the same account is FORBIDDEN; another account’s SIDs are NOT_FOUND', async () => {
    const mine = await verifiedFactor(t, a, { serviceSid: serviceA, identity: 'browser-user-3' });
    const neighbour = await verifiedFactor(t, a, { serviceSid: serviceA, identity: 'browser-user-4' });
    const otherService = await verifiedFactor(t, a, { identity: 'browser-user-3' }); // same identity, another service
    const foreign = await verifiedFactor(t, b, { identity: 'browser-user-3' });
    const neighbourChallenge = (await t.ok(CreateChallenge, { input: { factorSid: neighbour.factorSid } }, a.auth)).createChallenge.sid;
    const foreignChallenge = (await t.ok(CreateChallenge, { input: { factorSid: foreign.factorSid } }, b.auth)).createChallenge.sid;
    const auth = bearer((await mint(a, serviceA, mine.identity)).token);

    for (const factorSid of [neighbour.factorSid, otherService.factorSid]) {
      expectError(await t.gql(GetFactor, { sid: factorSid }, auth), 'FORBIDDEN', { twilioCode: 20403 });
      expectError(await t.gql(CreateChallenge, { input: { factorSid } }, auth), 'FORBIDDEN');
      expectError(await t.gql(VerifyFactor, { input: { factorSid, authPayload: '123456' } }, auth), 'FORBIDDEN');
    }
    expectError(await t.gql(GetChallenge, { sid: neighbourChallenge }, auth), 'FORBIDDEN');
    expectError(await t.gql(VerifyChallenge, { input: { challengeSid: neighbourChallenge, authPayload: '123456' } }, auth), 'FORBIDDEN');
    expectError(await t.gql(ListFactors, { serviceSid: serviceA, identity: neighbour.identity }, auth), 'FORBIDDEN');
    expectError(await t.gql(ListFactors, { serviceSid: otherService.serviceSid, identity: mine.identity }, auth), 'FORBIDDEN');
    expectError(
      await t.gql(CreateTotpFactor, { input: { serviceSid: serviceA, identity: neighbour.identity, friendlyName: 'x' } }, auth),
      'FORBIDDEN',
    );
    expectError(
      await t.gql(CreateTotpFactor, { input: { serviceSid: otherService.serviceSid, identity: mine.identity, friendlyName: 'x' } }, auth),
      'FORBIDDEN',
    );

    // Tenancy as everywhere: B's rows do not exist for A's token.
    expect((await t.ok(GetFactor, { sid: foreign.factorSid }, auth)).factor).toBeNull();
    expect((await t.ok(GetChallenge, { sid: foreignChallenge }, auth)).challenge).toBeNull();
    expectError(await t.gql(CreateChallenge, { input: { factorSid: foreign.factorSid } }, auth), 'NOT_FOUND', { twilioCode: 60390 });
    expectError(
      await t.gql(CreateTotpFactor, { input: { serviceSid: foreign.serviceSid, identity: mine.identity, friendlyName: 'x' } }, auth),
      'NOT_FOUND',
    );
    // And nothing was written by any refused call.
    expect(
      await t.deps.prisma.challenge.count({
        where: { factorSid: { in: [neighbour.factorSid, otherService.factorSid, foreign.factorSid] } },
      }),
    ).toBe(2);
    expect(await t.deps.prisma.factor.count({ where: { friendlyName: 'x' } })).toBe(0);
  });

  it('is not accepted by the REST face (Twilio Basic auth only)', async () => {
    const { token } = await mint(a, serviceA, 'rest-user-1');
    const res = await t.app.fetch(`http://verity.test/v2/Services/${serviceA}`, { headers: { authorization: bearer(token) } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: number }).code).toBe(20403);
  });

  it('two tenants, each with a token for the same identity name, see only their own factor', async () => {
    const fa = await verifiedFactor(t, a, { serviceSid: serviceA, identity: 'shared-name-1' });
    const fb = await verifiedFactor(t, b, { identity: 'shared-name-1' });
    const ta = bearer((await mint(a, serviceA, 'shared-name-1')).token);
    const tb = bearer((await mint(b, fb.serviceSid, 'shared-name-1')).token);
    expect(
      (await t.ok(ListFactors, { serviceSid: serviceA, identity: 'shared-name-1' }, ta)).entity!.factors.edges.map((e) => e.node.sid),
    ).toEqual([fa.factorSid]);
    expect(
      (await t.ok(ListFactors, { serviceSid: fb.serviceSid, identity: 'shared-name-1' }, tb)).entity!.factors.edges.map((e) => e.node.sid),
    ).toEqual([fb.factorSid]);
    expect((await t.ok(ListFactors, { serviceSid: serviceA, identity: 'shared-name-1' }, tb)).entity).toBeNull();
    expect((await t.ok(GetFactor, { sid: fa.factorSid }, tb)).factor).toBeNull();
  });
});

describe('refused tokens are UNAUTHENTICATED', () => {
  it('expired: one second past exp (our clock), with a message saying so', async () => {
    const { token } = await mint(a, serviceA, 'expiring-user-1', 60);
    expect((await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(token))).errors).toBeUndefined();
    t.clock.advance(60_000 + 1000);
    const err = expectError(await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(token)), 'UNAUTHENTICATED', {
      twilioCode: 20003,
    });
    expect(err.message).toMatch(/expired/i);
  });

  it('tampered payload, tampered signature, another key, unknown kid, alg none, another alg, wrong typ/aud, wrong account', async () => {
    const { token } = await mint(a, serviceA, 'tamper-user-1');
    const [h, p, s] = token.split('.') as [string, string, string];
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    const key = await keyOf(header.kid!);
    const sign = (hdr: object, body: object, k: Uint8Array = key) => new SignJWT(body as never).setProtectedHeader(hdr as never).sign(k);
    const forged: Record<string, string> = {
      'payload edited (identity), signature kept': `${h}.${b64url({ ...claims, sub: 'tamper-user-2' })}.${s}`,
      'signature bit flipped': `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`,
      'signature removed': `${h}.${p}.`,
      'signed with another key, same kid': await sign(header, claims, new Uint8Array(randomBytes(32))),
      'unknown kid': await sign({ ...header, kid: 'at20260101-deadbeef' }, claims),
      'no kid': await sign({ alg: 'HS256', typ: ACCESS_TOKEN_TYP }, claims),
      'alg none': `${b64url({ alg: 'none', typ: ACCESS_TOKEN_TYP, kid: header.kid })}.${p}.`,
      'alg HS512 with the right key': await sign({ ...header, alg: 'HS512' }, claims),
      'typ JWT (another kind of token)': await sign({ ...header, typ: 'JWT' }, claims),
      'another audience': await sign(header, { ...claims, aud: 'someone-else' }),
      'another issuer': await sign(header, { ...claims, iss: 'evil' }),
      'wrong account for the service': await sign(header, { ...claims, account: b.sid }),
      'lifetime over 3600 s': await sign(header, { ...claims, exp: claims.iat! + 7200 }),
      'not a JWT at all': 'eyJub3Rh.IGp3dA.',
    };
    // The genuine token works, so each refusal below is the forgery's doing.
    expect((await t.gql(Viewer, {}, bearer(token))).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(token))).errors).toBeUndefined();
    for (const [what, forgery] of Object.entries(forged)) {
      const r = await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(forgery));
      expect(r.errors?.[0]?.extensions?.code, what).toBe('UNAUTHENTICATED');
      expect(r.errors?.[0]?.message, what).toBe('Invalid access token');
    }
  });

  it('a deleted service’s tokens stop working (within the 5 s service cache)', async () => {
    const sid = (await t.ok(CreateService, { input: { friendlyName: 'Short-lived' } }, a.auth)).createService.sid;
    const { token } = await mint(a, sid, 'gone-user-1');
    await t.deps.prisma.service.delete({ where: { sid } });
    serviceChanged(t.deps, sid); // what deleteService does in this process
    expectError(await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(token)), 'UNAUTHENTICATED');
  });
});

describe('signing keys', () => {
  it('one key is generated on first use and stored encrypted; rotation signs with the new kid and keeps old tokens valid until retired', async () => {
    const rows = await t.deps.prisma.systemKey.findMany({ where: { name: { startsWith: 'access-token:' } } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.keyId).toBe(t.deps.keyring.primaryId);
    const old = await mint(a, serviceA, 'rotate-user-1');
    const { kid } = await rotateAccessTokenKey(t.deps);
    const fresh = await mint(a, serviceA, 'rotate-user-1');
    expect(decodeProtectedHeader(fresh.token).kid).toBe(kid);
    expect(decodeProtectedHeader(old.token).kid).not.toBe(kid);
    for (const tok of [old.token, fresh.token])
      expect((await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(tok))).errors).toBeUndefined();
    const { retired } = await rotateAccessTokenKey(t.deps, { retireOld: true });
    expect(retired).toBe(2);
    for (const tok of [old.token, fresh.token])
      expectError(await t.gql(GetFactor, { sid: 'YF' + '0'.repeat(32) }, bearer(tok)), 'UNAUTHENTICATED');
  });
});
