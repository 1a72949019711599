import { z } from 'zod';
import type { Factor } from '../generated/prisma/client.ts';
import { InvalidArgumentError, TooManyAttemptsError } from '../domain/errors.ts';
import { findConsecutivePair } from '../domain/resync.ts';
import { retryAfterSeconds } from '../domain/throttle.ts';
import { authPayloadSchema, parseInput } from '../domain/validation.ts';
import * as store from '../db/factor-store.ts';
import { configOf, factorSeed } from './code-check.ts';
import type { Tenant } from './context.ts';
import { auditSubject, factorEvent, getFactor } from './factors.ts';
import { emit } from './events.ts';
import { audit } from './audit.ts';

// RFC 6238 §6 resynchronisation: two consecutive codes from a device whose clock drifted beyond
// the delay window find it again, and the factor records the drift so later checks (code-check.ts)
// are centred on now + drift. Order as for every code check: charge the throttle → search →
// one conditional statement that consumes both steps and sets the drift.

const resyncInput = z.object({
  factorSid: z.string(),
  authPayloads: z.array(authPayloadSchema).length(2, 'must be exactly two codes, shown one after the other by the authenticator'),
});

export interface ResyncFactorInput {
  factorSid: string;
  authPayloads: string[];
}

/**
 * Finds the pair within ±VERITY_RESYNC_WINDOW_STEPS of now and records the factor's drift. A
 * wrong pair is INVALID_ARGUMENT and writes nothing but the throttle charge. Account credentials
 * only (the schema and REST refuse access tokens), as for updateFactor: it changes how the
 * factor's codes are checked, a decision for the backend, not the browser; a previous auth token
 * in its grace period may, as it may verify codes (docs/security.md "Resynchronisation").
 */
export async function resyncFactor(t: Tenant, input: ResyncFactorInput): Promise<Factor> {
  const data = parseInput(resyncInput, input);
  const factor = await getFactor(t, data.factorSid);
  const codes = data.authPayloads as [string, string];
  // A code of the wrong length is a mistake, not a guess: refused before the throttle is charged.
  if (codes.some((c) => c.length !== factor.codeLength)) {
    throw new InvalidArgumentError('authPayloads', `each code must be ${factor.codeLength} digits, as this factor's codes are`);
  }
  const window = t.deps.config.resyncWindowSteps;
  const now = t.deps.now();
  // The per-factor guessing throttle (THROTTLE), charged before the codes are looked at.
  const charged = await store.chargeFactorThrottle(t.deps.prisma, { accountSid: t.accountSid, factorSid: factor.sid, now });
  if (!charged) {
    const fresh = await getFactor(t, factor.sid);
    const until = fresh.throttledUntil && fresh.throttledUntil > now ? fresh.throttledUntil : new Date(now.getTime() + 1000);
    const retryAfter = retryAfterSeconds(until, now);
    await audit(t, {
      type: 'factor.resync_failed',
      ...auditSubject(factor),
      details: { identity: factor.identity, reason: 'throttled', retryAfter },
    });
    throw new TooManyAttemptsError(60308, 'Too many wrong codes for this factor: retry later', retryAfter);
  }
  const seed = factorSeed(t, charged);
  const match = findConsecutivePair(seed, codes, configOf(charged), Math.floor(now.getTime() / 1000), window, charged.lastUsedTimeStep);
  seed.fill(0);
  // Both steps count as used (RFC 6238 §5.2): the last used step becomes step + 1, in the statement that sets the drift.
  const recorded =
    match.found &&
    (await store.resyncWithSteps(t.deps.prisma, { factorSid: factor.sid, step: BigInt(match.step), drift: match.drift, now }));
  if (!match.found || !recorded) {
    const reason = !match.found && match.reason === 'mismatch' ? 'no_matching_pair' : 'codes_already_used';
    await audit(t, { type: 'factor.resync_failed', ...auditSubject(factor), details: { identity: factor.identity, reason } });
    // One answer for a wrong pair and a used one: which codes were once right is not the caller's to learn.
    throw new InvalidArgumentError(
      'authPayloads',
      `no two consecutive, unused codes of this factor within ±${window} time steps of now match these, in this order`,
    );
  }
  const resynced = await getFactor(t, factor.sid);
  await emit(t.deps, factorEvent('factor.updated', resynced));
  await audit(t, {
    type: 'factor.resynced',
    ...auditSubject(resynced),
    details: { identity: resynced.identity, drift: match.drift, previousDrift: charged.drift },
  });
  return resynced;
}
