import type { Challenge, Factor } from '../generated/prisma/client.ts';
import { FactorNotVerifiedError, ForbiddenError, NotFoundError, TooManyAttemptsError } from '../domain/errors.ts';
import { resolveExpiration, transition } from '../domain/challenge.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { retryAfterSeconds } from '../domain/throttle.ts';
import { parseInput } from '../domain/validation.ts';
import * as store from '../db/challenge-store.ts';
import type { CodeFactor } from '../db/factor-store.ts';
import type { Tenant } from './context.ts';
import { getFactor } from './factors.ts';
import { checkChargedCode } from './code-check.ts';
import { emit } from './events.ts';
import { audit } from './audit.ts';
import { countRefusal } from '../observability/metrics.ts';
import { getChallenge } from './challenges.ts';
import { createInput, verifyInput, type CreateChallengeInput } from './challenge-input.ts';
import { challengeAudit, challengeEvent, type ChallengeRef } from './challenge-events.ts';
import { markExpired, scheduleExpiry } from './challenge-expiry.ts';

// Creating and answering challenges: the attempt pipeline. Charge first (caps and throttle hold
// under concurrency), then check the code (code-check.ts), then approve and consume the step in
// one conditional statement (challenge-store approveWithStep).

/** Twilio 60308 semantics for the per-factor guessing throttle (exponential backoff, no permanent lock). */
function throttledError(throttledUntil: Date | null, now: Date): TooManyAttemptsError {
  // The refusing statement saw a live throttle; a snapshot older than it may not: then say 1 s.
  const until = throttledUntil && throttledUntil > now ? throttledUntil : new Date(now.getTime() + 1000);
  return new TooManyAttemptsError(60308, 'Too many wrong codes for this factor: retry later', retryAfterSeconds(until, now));
}

/** A refusal by the guessing throttle: counted, audited, and returned for the caller to throw. */
async function throttled(t: Tenant, c: ChallengeRef, throttledUntil: Date | null, now: Date): Promise<TooManyAttemptsError> {
  const err = throttledError(throttledUntil, now);
  t.deps.metrics.verification('challenge', 'throttled');
  await audit(t, challengeAudit('challenge.throttled', c, { retryAfter: err.extra.retryAfter }));
  return err;
}

/**
 * Checks one code against a pending challenge: charge the attempt first (caps and throttle hold
 * under concurrency), then evaluate, then approve-and-consume-the-step atomically. A wrong or
 * replayed code is a result: the challenge stays PENDING.
 */
async function attemptCode(t: Tenant, challenge: Challenge, factor: Factor, code: string): Promise<Challenge> {
  const now = t.deps.now();
  const charged = await store.chargeChallengeAttempt(t.deps.prisma, { challengeSid: challenge.sid, factorSid: factor.sid, now });
  if (!charged) {
    const fresh = await getChallenge(t, challenge.sid);
    countRefusal(t.deps.metrics, 'challenge', () => transition(fresh, 'fail', now)); // throws the precise error: expired, responded, or attempts exhausted
    throw await throttled(t, challenge, (await getFactor(t, factor.sid)).throttledUntil, now);
  }
  return checkCharged(t, charged, factor, code, now);
}

/**
 * The code of an attempt already charged to `charged` (code-check.ts), approved with its time step
 * in one conditional statement (RFC 6238 §5.2: accepted once).
 */
async function checkCharged(t: Tenant, charged: Challenge, factor: CodeFactor, code: string, now: Date): Promise<Challenge> {
  const outcome = await checkChargedCode(t, factor, code, now, (step, drift) =>
    store.approveWithStep(t.deps.prisma, { challengeSid: charged.sid, factorSid: factor.sid, step, drift, now }),
  );
  if (outcome.kind === 'wrong') {
    // Wrong or replayed: the charged row is the answer (still PENDING).
    t.deps.metrics.verification('challenge', 'wrong_code');
    await audit(t, challengeAudit('challenge.failed', charged, { reason: 'wrong_code' }));
    return charged;
  }
  if (outcome.kind === 'accepted') {
    const approved = outcome.value;
    t.deps.metrics.verification('challenge', 'approved');
    await emit(t.deps, challengeEvent('challenge.approved', approved.challenge), { webhookSids: approved.webhookSids });
    await audit(t, challengeAudit('challenge.approved', approved.challenge));
    return approved.challenge;
  }
  // Lost a race (same code elsewhere, or this challenge answered meanwhile): read what happened.
  t.deps.metrics.verification('challenge', 'wrong_code');
  await audit(t, challengeAudit('challenge.failed', charged, { reason: 'code_already_used' }));
  return getChallenge(t, charged.sid);
}

export async function createChallenge(t: Tenant, input: CreateChallengeInput): Promise<Challenge> {
  const data = parseInput(createInput, input);
  // Hidden details are the backend's own context (Twilio): a browser must not be able to plant them.
  if (t.scope && data.hiddenDetails) throw new ForbiddenError('hiddenDetails are set by your backend, not with an access token');
  if (!isSid('factor', data.factorSid)) throw new NotFoundError('Factor', data.factorSid);
  // An access token may only use its own identity's factors: checked on the row, like every scoped read.
  if (t.scope) await getFactor(t, data.factorSid);
  const now = t.deps.now();
  let expirationDate: Date;
  try {
    expirationDate = resolveExpiration(data.expirationDate, now);
  } catch (e) {
    // The factor is judged before the date: an unknown or unverified factor is what the client must fix first.
    const factor = await getFactor(t, data.factorSid);
    if (factor.status !== 'verified') throw new FactorNotVerifiedError();
    throw e;
  }
  const opened = await store.openChallenge(t.deps.prisma, {
    sid: newSid('challenge'),
    accountSid: t.accountSid,
    factorSid: normalizeSid(data.factorSid),
    expirationDate,
    now,
    detailsMessage: data.details?.message ?? null,
    detailsFields: data.details?.fields,
    hiddenDetails: data.hiddenDetails,
    metadata: data.metadata,
    charge: !!data.authPayload,
  });
  if (opened.kind === 'no-factor') throw new NotFoundError('Factor', data.factorSid);
  // Twilio 60318: challenges need a verified factor.
  if (opened.kind === 'factor-unverified') throw new FactorNotVerifiedError();
  const { challenge } = opened;
  await emit(t.deps, challengeEvent('challenge.created', challenge));
  if (!data.authPayload) {
    await scheduleExpiry(t.deps, challenge);
    return challenge;
  }
  let result: Challenge | undefined;
  try {
    if (!opened.factor) throw await throttled(t, challenge, opened.throttledUntil, now);
    result = await checkCharged(t, challenge, opened.factor, data.authPayload, now);
    return result;
  } finally {
    // Approved on creation (the login hot path) needs no expiry job: one queue round trip less.
    // Anything else — still pending, or the attempt threw — gets its job as usual.
    if (result?.status !== 'approved') await scheduleExpiry(t.deps, challenge);
  }
}

export async function verifyChallenge(
  t: Tenant,
  input: { challengeSid: string; authPayload: string; metadata?: Record<string, unknown> | null },
): Promise<Challenge> {
  const data = parseInput(verifyInput, input);
  const challenge = await getChallenge(t, data.challengeSid);
  const now = t.deps.now();
  if (challenge.status === 'expired') await markExpired(t.deps, challenge, now); // persist what readers already see
  countRefusal(t.deps.metrics, 'challenge', () => transition(challenge, 'fail', now)); // guards: expired 60323, responded 60322, cap 60308
  if (data.metadata) {
    await store.setChallengeMetadata(t.deps.prisma, challenge.sid, data.metadata);
  }
  const factor = await getFactor(t, challenge.factorSid);
  return attemptCode(t, challenge, factor, data.authPayload);
}
