import type { TestApp, Tenant } from './app.ts';
import { CreateService, CreateTotpFactor, VerifyFactor } from './documents.ts';
import { oathCode, unix } from './oath.ts';

let counter = 0;

/** A service, an entity and a VERIFIED factor, enrolled the way a client does it. */
export async function verifiedFactor(t: TestApp, tenant: Tenant, opts: { serviceSid?: string; identity?: string } = {}) {
  const serviceSid = opts.serviceSid ?? (await t.ok(CreateService, { input: { friendlyName: 'Flow' } }, tenant.auth)).createService.sid;
  const identity = opts.identity ?? `flow-user-${process.pid}-${++counter}`;
  const { createTotpFactor } = await t.ok(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'Phone' } }, tenant.auth);
  const secret = createTotpFactor.binding.secret;
  const code = oathCode(secret, {}, unix(t.clock.now()));
  await t.ok(VerifyFactor, { input: { factorSid: createTotpFactor.factor.sid, authPayload: code } }, tenant.auth);
  // The enrolment code used up the current step: move the clock to the next one.
  t.clock.advance(30_000);
  return { serviceSid, identity, factorSid: createTotpFactor.factor.sid, secret, code: () => oathCode(secret, {}, unix(t.clock.now())) };
}
