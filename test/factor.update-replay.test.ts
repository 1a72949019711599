import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateService, CreateTotpFactor, UpdateFactor, VerifyFactor } from './support/documents.ts';
import { oathCode, unix } from './support/oath.ts';
import { updateFactorIfUnchanged } from '../src/db/factor-store.ts';

// The attack: updateFactor reads the factor, a login consumes a time step in between, and the
// update writes back the step it read — reopening the code that was just used for a replay.
let t: TestApp;
let a: Tenant;
let serviceSid: string;

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount();
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Update replay' } }, a.auth)).createService.sid;
});
afterAll(() => t.close());

it('a factor update racing a login cannot reopen the time step the login used', async () => {
  const { createTotpFactor: r } = await t.ok(
    CreateTotpFactor,
    { input: { serviceSid, identity: 'racer-0001', friendlyName: 'Phone' } },
    a.auth,
  );
  const code = () => oathCode(r.binding.secret, {}, unix(t.clock.now()));
  await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: code() } }, a.auth);

  // The update's read, taken before the login.
  const read = await t.deps.prisma.factor.findUniqueOrThrow({ where: { sid: r.factor.sid } });
  t.clock.current = new Date(t.clock.current.getTime() + 30_000);
  const used = code();
  expect((await t.ok(CreateChallenge, { input: { factorSid: r.factor.sid, authPayload: used } }, a.auth)).createChallenge.status).toBe(
    'APPROVED',
  );
  const afterLogin = await t.deps.prisma.factor.findUniqueOrThrow({ where: { sid: r.factor.sid } });

  // The update's write, from the stale read, must not land (RFC 6238 §5.2: a used step stays used).
  expect(await updateFactorIfUnchanged(t.deps.prisma, read, { friendlyName: 'Stale', lastUsedTimeStep: read.lastUsedTimeStep })).toBe(
    false,
  );
  expect((await t.deps.prisma.factor.findUniqueOrThrow({ where: { sid: r.factor.sid } })).lastUsedTimeStep).toBe(
    afterLogin.lastUsedTimeStep,
  );

  // The use case retries on fresh data: the update lands and the used code is still refused.
  await t.ok(UpdateFactor, { input: { factorSid: r.factor.sid, friendlyName: 'Renamed' } }, a.auth);
  expect((await t.ok(CreateChallenge, { input: { factorSid: r.factor.sid, authPayload: used } }, a.auth)).createChallenge.status).toBe(
    'PENDING',
  );
});
