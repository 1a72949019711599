// RFC 6238 §6 — a device whose clock drifts: resynchronisation with two consecutive codes, the
// drift a factor records (by a resync, or observed on accepted codes), the checks centred on
// now + drift, and its GraphQL and REST representations. Codes come from oathtool (an
// implementation independent of ours) at the device's clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../src/client/gql/index.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateAccessToken, CreateChallenge, RotateAuthToken, CreateService, CreateTotpFactor, VerifyFactor } from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { oathCode, unix } from './support/oath.ts';

const FactorDrift = graphql(`
  query FactorDrift($sid: ID!) {
    factor(sid: $sid) {
      sid
      drift
      config {
        skew
      }
    }
  }
`);

const ResyncFactor = graphql(`
  mutation ResyncFactor($input: ResyncFactorInput!) {
    resyncFactor(input: $input) {
      sid
      status
      drift
    }
  }
`);

const STEP_MS = 30_000;
const DAY_MS = 86_400_000;

let t: TestApp;
let a: Tenant;
let b: Tenant;
let serviceSid: string;

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount('Drift A');
  b = await t.newAccount('Drift B');
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Drift' } }, a.auth)).createService.sid;
});
afterAll(() => t?.close());

/** A device whose clock is `offsetSteps` time steps off the server's. */
const deviceCode = (secret: string, offsetSteps: number) => oathCode(secret, {}, unix(t.clock.now()) + offsetSteps * 30);

let identities = 0;
/** An unverified factor (skew 1, the default). */
async function created(auth = a.auth, service = serviceSid) {
  const { createTotpFactor: r } = await t.ok(
    CreateTotpFactor,
    { input: { serviceSid: service, identity: `drifter-${String(++identities).padStart(4, '0')}`, friendlyName: 'Phone' } },
    auth,
  );
  return { sid: r.factor.sid, secret: r.binding.secret, identity: r.factor.identity };
}

/** A verified factor, enrolled while the device's clock was right; a day later (its enrolment step long past). */
async function enrolled(auth = a.auth, service = serviceSid) {
  const f = await created(auth, service);
  await t.ok(VerifyFactor, { input: { factorSid: f.sid, authPayload: deviceCode(f.secret, 0) } }, auth);
  t.clock.advance(DAY_MS);
  return f;
}

/** Two consecutive codes of a device `offsetSteps` off: the one it shows now and the next. */
const devicePair = (secret: string, offsetSteps: number) => [deviceCode(secret, offsetSteps), deviceCode(secret, offsetSteps + 1)];

const resync = (factorSid: string, authPayloads: string[], auth = a.auth) =>
  t.gql(ResyncFactor, { input: { factorSid, authPayloads } }, auth);

const row = (sid: string) => t.deps.prisma.factor.findUniqueOrThrow({ where: { sid } });

const login = async (factorSid: string, code: string, auth = a.auth) =>
  (await t.ok(CreateChallenge, { input: { factorSid, authPayload: code } }, auth)).createChallenge.status;

const driftOf = async (sid: string, auth = a.auth) => (await t.ok(FactorDrift, { sid }, auth)).factor!.drift;

describe('resyncFactor (RFC 6238 §6)', () => {
  it('a device 37 steps fast: refused at skew 1, found by two consecutive codes, then approved at its skew', async () => {
    const f = await enrolled();
    expect(await login(f.sid, deviceCode(f.secret, 37))).toBe('PENDING');
    const r = await resync(f.sid, devicePair(f.secret, 37));
    expect(r.errors).toBeUndefined();
    expect(r.data!.resyncFactor).toEqual({ sid: f.sid, status: 'VERIFIED', drift: 37 });
    t.clock.advance(2 * STEP_MS);
    expect(await login(f.sid, deviceCode(f.secret, 37))).toBe('APPROVED');
    expect(await driftOf(f.sid)).toBe(37);
  });

  it('a device 80 steps slow, just the same', async () => {
    const f = await enrolled();
    expect(await login(f.sid, deviceCode(f.secret, -80))).toBe('PENDING');
    expect((await resync(f.sid, devicePair(f.secret, -80))).data!.resyncFactor.drift).toBe(-80);
    t.clock.advance(2 * STEP_MS);
    expect(await login(f.sid, deviceCode(f.secret, -80))).toBe('APPROVED');
  });

  it('replay: both resync codes, and every step before them, count as used (RFC 6238 §5.2)', async () => {
    const f = await enrolled();
    const pair = devicePair(f.secret, 20);
    expect((await resync(f.sid, pair)).data!.resyncFactor.drift).toBe(20);
    expect((await row(f.sid)).lastUsedTimeStep).toBe(BigInt(Math.floor(unix(t.clock.now()) / 30) + 21));
    // The same pair again, and each code as a login, inside the new window: refused.
    expectError(await resync(f.sid, pair), 'INVALID_ARGUMENT', { field: 'authPayloads' });
    expect(await login(f.sid, pair[0]!)).toBe('PENDING');
    expect(await login(f.sid, pair[1]!)).toBe('PENDING');
    // One step later the device shows a fresh code, accepted.
    t.clock.advance(STEP_MS);
    expect(await login(f.sid, deviceCode(f.secret, 21))).toBe('APPROVED');
  });

  it('a pair outside ±VERITY_RESYNC_WINDOW_STEPS, two codes that are not consecutive, or given out of order → INVALID_ARGUMENT, and nothing but the throttle charge is written', async () => {
    const f = await enrolled();
    const before = await row(f.sid);
    const wrongPairs = [
      devicePair(f.secret, 101),
      devicePair(f.secret, -101),
      [deviceCode(f.secret, 10), deviceCode(f.secret, 12)],
      [deviceCode(f.secret, 11), deviceCode(f.secret, 10)],
    ];
    for (const pair of wrongPairs) {
      const err = expectError(await resync(f.sid, pair), 'INVALID_ARGUMENT', { field: 'authPayloads', twilioCode: 60200 });
      expect(err.message).toMatch(/consecutive/);
      for (const code of pair) expect(err.message).not.toContain(code);
    }
    const after = await row(f.sid);
    expect(after).toEqual({ ...before, failureStreak: wrongPairs.length });
    // …while the same device at 100 steps (the window's edge) is found.
    expect((await resync(f.sid, devicePair(f.secret, 100))).data!.resyncFactor.drift).toBe(100);
    expect((await row(f.sid)).failureStreak).toBe(0);
  });

  it('malformed input is refused before the throttle is charged: one code, three codes, wrong length, not digits', async () => {
    const f = await enrolled();
    const [c1, c2] = devicePair(f.secret, 5) as [string, string];
    for (const bad of [[c1], [c1, c2, c1], [c1, c2.slice(1)], [c1, 'abcdef']]) {
      expectError(await resync(f.sid, bad), 'INVALID_ARGUMENT');
    }
    expect((await row(f.sid)).failureStreak).toBe(0);
  });

  it('throttled like every code check: the per-factor throttle is charged first, and a right pair is refused while it is armed', async () => {
    const f = await enrolled();
    const wrong = [deviceCode(f.secret, 40), deviceCode(f.secret, 42)];
    for (let i = 0; i < 6; i++) expectError(await resync(f.sid, wrong), 'INVALID_ARGUMENT');
    // 6 consecutive failures (5 free): armed for 1 s — shared with challenges, which see it too.
    const refused = expectError(await resync(f.sid, devicePair(f.secret, 40)), 'TOO_MANY_ATTEMPTS', { twilioCode: 60308 });
    expect(refused.extensions?.retryAfter).toBe(1);
    expectError(
      await t.gql(CreateChallenge, { input: { factorSid: f.sid, authPayload: deviceCode(f.secret, 0) } }, a.auth),
      'TOO_MANY_ATTEMPTS',
    );
    expect((await row(f.sid)).drift).toBe(0);
    t.clock.advance(1_000);
    expect((await resync(f.sid, devicePair(f.secret, 40))).data!.resyncFactor.drift).toBe(40);
    expect((await row(f.sid)).failureStreak).toBe(0);
  });

  it('enrolment verification is centred on the drift too: a fast device resynced before its first code verifies', async () => {
    const f = await created();
    expect(
      (await t.ok(VerifyFactor, { input: { factorSid: f.sid, authPayload: deviceCode(f.secret, 37) } }, a.auth)).verifyFactor.status,
    ).toBe('UNVERIFIED');
    expect((await resync(f.sid, devicePair(f.secret, 37))).data!.resyncFactor).toMatchObject({ status: 'UNVERIFIED', drift: 37 });
    t.clock.advance(2 * STEP_MS);
    expect(
      (await t.ok(VerifyFactor, { input: { factorSid: f.sid, authPayload: deviceCode(f.secret, 37) } }, a.auth)).verifyFactor.status,
    ).toBe('VERIFIED');
  });

  it('audited: factor.resynced with the drift, factor.resync_failed with the reason, never a code', async () => {
    const f = await enrolled();
    const wrong = [deviceCode(f.secret, -30), deviceCode(f.secret, -33)];
    expectError(await resync(f.sid, wrong), 'INVALID_ARGUMENT');
    const right = devicePair(f.secret, -30);
    await resync(f.sid, right);
    const events = await t.deps.prisma.auditEvent.findMany({
      where: { factorSid: f.sid, type: { startsWith: 'factor.resync' } },
      orderBy: { seq: 'asc' },
    });
    expect(events.map((e) => [e.type, e.actor, JSON.parse(e.details as string)])).toEqual([
      ['factor.resync_failed', 'account', { identity: f.identity, reason: 'no_matching_pair' }],
      ['factor.resynced', 'account', { identity: f.identity, drift: -30, previousDrift: 0 }],
    ]);
    for (const code of [...wrong, ...right]) expect(JSON.stringify(events.map((e) => e.details))).not.toContain(code);
  });

  it('tenancy: another account’s factor answers NOT_FOUND and is left alone; an access token, even its own identity’s, is FORBIDDEN', async () => {
    const f = await enrolled();
    const before = await row(f.sid);
    expectError(await resync(f.sid, devicePair(f.secret, 10), b.auth), 'NOT_FOUND');
    const { token } = (await t.ok(CreateAccessToken, { input: { serviceSid, identity: f.identity } }, a.auth)).createAccessToken;
    expectError(await resync(f.sid, devicePair(f.secret, 10), `Bearer ${token}`), 'FORBIDDEN');
    expect(await row(f.sid)).toEqual(before);
  });
});

describe('who may resync (docs/security.md "Clock drift and resynchronisation")', () => {
  it('a previous auth token in its rotation grace period may, as it may run code checks', async () => {
    const c = await t.newAccount('Drift C');
    const service = (await t.ok(CreateService, { input: { friendlyName: 'Grace' } }, c.auth)).createService.sid;
    const f = await enrolled(c.auth, service);
    await t.ok(RotateAuthToken, { input: { graceSeconds: 3600 } }, c.auth);
    const r = await resync(f.sid, devicePair(f.secret, 12), c.auth);
    expect(r.errors).toBeUndefined();
    expect(r.data!.resyncFactor.drift).toBe(12);
  });
});

describe('REST: POST …/Factors/{sid}/Resync (Verity extension)', () => {
  const url = (f: { sid: string; identity: string }, service = serviceSid) =>
    `http://verity.test/v2/Services/${service}/Entities/${f.identity}/Factors/${f.sid}/Resync`;
  const post = (target: string, body: URLSearchParams, auth = a.auth) =>
    t.app.fetch(target, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new TextEncoder().encode(body.toString()), // bytes, as a socket delivers them
    });

  it('takes AuthPayload1 and AuthPayload2, or AuthPayloads repeated, and answers the factor with its drift', async () => {
    const f = await enrolled();
    const [c1, c2] = devicePair(f.secret, 15) as [string, string];
    const res = await post(url(f), new URLSearchParams({ AuthPayload1: c1, AuthPayload2: c2 }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ sid: f.sid, status: 'verified', drift: 15 });
    t.clock.advance(DAY_MS);
    const [d1, d2] = devicePair(f.secret, -7) as [string, string];
    const res2 = await post(
      url(f),
      new URLSearchParams([
        ['AuthPayloads', d1],
        ['AuthPayloads', d2],
      ]),
    );
    expect(await res2.json()).toMatchObject({ drift: -7 });
  });

  it('a wrong pair is 400 with Twilio’s 60200; another account’s factor is 404 (60390 shape), unchanged', async () => {
    const f = await enrolled();
    const wrong = await post(url(f), new URLSearchParams({ AuthPayload1: deviceCode(f.secret, 3), AuthPayload2: deviceCode(f.secret, 5) }));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ code: 60200 });
    const [c1, c2] = devicePair(f.secret, 3) as [string, string];
    const foreign = await post(url(f), new URLSearchParams({ AuthPayload1: c1, AuthPayload2: c2 }), b.auth);
    expect(foreign.status).toBe(404);
    expect((await row(f.sid)).drift).toBe(0);
  });
});

describe('observed drift (RFC 6238 §6 "record the drift")', () => {
  it('a device drifting one step a day keeps logging in at skew 1: each accepted code one step off moves the drift one step', async () => {
    const f = await enrolled();
    expect(await driftOf(f.sid)).toBe(0);
    for (let day = 1; day <= 6; day++) {
      t.clock.advance(DAY_MS);
      // The device is `day` steps fast: one step beyond yesterday's centre, inside skew 1 of it.
      expect(await login(f.sid, deviceCode(f.secret, day))).toBe('APPROVED');
      expect(await driftOf(f.sid)).toBe(day);
    }
    // Without the recorded drift a code 6 steps off is far outside skew 1; and the server's own "now" code is now outside the window.
    t.clock.advance(DAY_MS);
    expect(await login(f.sid, deviceCode(f.secret, 0))).toBe('PENDING');
    expect(await login(f.sid, deviceCode(f.secret, 6))).toBe('APPROVED');
    expect(await driftOf(f.sid)).toBe(6);
  });

  it('walks back just the same for a device losing time, and a code at the centre leaves the drift alone', async () => {
    const f = await enrolled();
    for (let day = 1; day <= 4; day++) {
      t.clock.advance(DAY_MS);
      expect(await login(f.sid, deviceCode(f.secret, -day))).toBe('APPROVED');
    }
    expect(await driftOf(f.sid)).toBe(-4);
    t.clock.advance(DAY_MS);
    expect(await login(f.sid, deviceCode(f.secret, -4))).toBe('APPROVED');
    expect(await driftOf(f.sid)).toBe(-4);
  });

  it('a wrong code moves nothing; a code two steps off is refused at skew 1 and moves nothing either', async () => {
    const f = await enrolled();
    t.clock.advance(DAY_MS);
    const right = deviceCode(f.secret, 0);
    expect(await login(f.sid, right === '000000' ? '000001' : '000000')).toBe('PENDING');
    expect(await login(f.sid, deviceCode(f.secret, 2))).toBe('PENDING');
    expect(await driftOf(f.sid)).toBe(0);
  });

  it('the drift is in the factor’s REST representation as the extension field "drift"', async () => {
    const f = await enrolled();
    t.clock.advance(STEP_MS * 10);
    expect(await login(f.sid, deviceCode(f.secret, -1))).toBe('APPROVED');
    const res = await t.app.fetch(`http://verity.test/v2/Services/${serviceSid}/Entities/${f.identity}/Factors/${f.sid}`, {
      headers: { authorization: a.auth },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { drift: number }).drift).toBe(-1);
  });
});
