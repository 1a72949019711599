// RFC 6238 §6 — a device whose clock drifts: the drift a factor records (observed on accepted
// codes), the checks centred on now + drift, and its GraphQL and REST representations. Codes come
// from oathtool (an implementation independent of ours) at the device's clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../src/client/gql/index.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateService, CreateTotpFactor, VerifyFactor } from './support/documents.ts';
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

const STEP_MS = 30_000;
const DAY_MS = 86_400_000;

let t: TestApp;
let a: Tenant;
let serviceSid: string;

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount('Drift A');
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Drift' } }, a.auth)).createService.sid;
});
afterAll(() => t?.close());

/** A device whose clock is `offsetSteps` time steps off the server's. */
const deviceCode = (secret: string, offsetSteps: number) => oathCode(secret, {}, unix(t.clock.now()) + offsetSteps * 30);

let identities = 0;
/** A verified factor (skew 1, the default), enrolled while the device's clock was right. */
async function enrolled(auth = a.auth, service = serviceSid) {
  const { createTotpFactor: r } = await t.ok(
    CreateTotpFactor,
    { input: { serviceSid: service, identity: `drifter-${String(++identities).padStart(4, '0')}`, friendlyName: 'Phone' } },
    auth,
  );
  await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: deviceCode(r.binding.secret, 0) } }, auth);
  return { sid: r.factor.sid, secret: r.binding.secret, identity: r.factor.identity };
}

const login = async (factorSid: string, code: string, auth = a.auth) =>
  (await t.ok(CreateChallenge, { input: { factorSid, authPayload: code } }, auth)).createChallenge.status;

const driftOf = async (sid: string, auth = a.auth) => (await t.ok(FactorDrift, { sid }, auth)).factor!.drift;

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
