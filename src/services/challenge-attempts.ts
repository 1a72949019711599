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
import { checkChargedCode, configOf, factorSeed } from './code-check.ts';
import { findLoginFactor } from '../db/factor-store.ts';
import type { LoginAudit } from '../db/challenge-store.ts';
import { matchingSteps, timeStepAt } from '../domain/totp.ts';
import { observedDrift } from '../domain/resync.ts';
import { auditContentHash, canonicalJson } from '../domain/audit.ts';
import type { CachedSeed } from './seed-cache.ts';
import { emit, emitAll } from './events.ts';
import { actorOf, audit } from './audit.ts';
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
  const fields = {
    sid: newSid('challenge'),
    accountSid: t.accountSid,
    factorSid: normalizeSid(data.factorSid),
    expirationDate,
    now,
    detailsMessage: data.details?.message ?? null,
    detailsFields: data.details?.fields,
    hiddenDetails: data.hiddenDetails,
    metadata: data.metadata,
  };
  if (data.authPayload) return login(t, fields, data.authPayload, data.factorSid);
  const opened = await store.openChallenge(t.deps.prisma, fields);
  if (opened.kind === 'no-factor') throw new NotFoundError('Factor', data.factorSid);
  // Twilio 60318: challenges need a verified factor.
  if (opened.kind === 'factor-unverified') throw new FactorNotVerifiedError();
  const { challenge } = opened;
  await emit(t.deps, challengeEvent('challenge.created', challenge));
  scheduleExpiry(t.deps, challenge);
  return challenge;
}

/** A fresh read of the factor's seed and what it was decrypted from (the caller caches it). */
async function readLoginSeed(t: Tenant, factorSid: string, input: string): Promise<CachedSeed> {
  const f = await findLoginFactor(t.deps.prisma, t.accountSid, factorSid);
  if (!f) throw new NotFoundError('Factor', input);
  // Twilio 60318: challenges need a verified factor.
  if (f.status !== 'verified') throw new FactorNotVerifiedError();
  return {
    accountSid: f.accountSid,
    serviceSid: f.serviceSid,
    entitySid: f.entitySid,
    identity: f.identity,
    secretKeyId: f.secretKeyId,
    secretCiphertext: f.secretCiphertext,
    cfg: configOf(f),
    drift: f.drift,
    seed: factorSeed(t, f),
  };
}

/** The audit event of each answer the login statement can give, hashed here (the statement picks one). */
function loginAudit(t: Tenant, e: CachedSeed, challengeSid: string, factorSid: string, now: Date): LoginAudit {
  const sid = newSid('auditEvent');
  const actor = actorOf(t);
  const variant = (type: 'challenge.approved' | 'challenge.failed', extra: Record<string, unknown>) => {
    const details = canonicalJson({ identity: e.identity, ...extra });
    const content = {
      sid,
      accountSid: t.accountSid,
      type,
      serviceSid: e.serviceSid,
      entitySid: e.entitySid,
      factorSid,
      challengeSid,
      actor,
      details,
      dateCreated: now,
    };
    return { details, hash: auditContentHash(content) };
  };
  return {
    sid,
    actor,
    approved: variant('challenge.approved', {}),
    // A replayed code counts as a wrong one (RFC 6238 §5.2).
    wrong: variant('challenge.failed', { reason: 'wrong_code' }),
    used: variant('challenge.failed', { reason: 'code_already_used' }),
  };
}

/**
 * A challenge created with a code — the login: the code is checked against the factor's seed
 * before the database (the window's matching steps), then one statement opens the challenge,
 * charges the attempt, consumes the step if it is unused and appends the audit event
 * (challenge-store openAndAttempt): one commit, right code or wrong.
 */
async function login(t: Tenant, fields: store.NewChallenge, code: string, input: string): Promise<Challenge> {
  const { now } = fields;
  for (let round = 1; ; round++) {
    // A cached entry is used synchronously (no await between get and the check): an eviction,
    // which zeroes the seed, cannot come in between. Another account's entry is not this tenant's
    // factor: read it (and get NOT_FOUND) as if nothing were cached.
    const hit = t.deps.seedCache.get(fields.factorSid);
    const cached = hit?.accountSid === t.accountSid ? hit : undefined;
    const entry = cached ?? (await readLoginSeed(t, fields.factorSid, input));
    const nowS = Math.floor(now.getTime() / 1000);
    const centre = timeStepAt(nowS, entry.cfg.timeStep) + entry.drift;
    // Each matching step with the drift accepting it would record (RFC 6238 §6, as code-check does).
    const steps = matchingSteps(entry.seed, code, entry.cfg, nowS, entry.drift).map((s) => ({
      step: BigInt(s),
      drift: observedDrift(entry.drift, s - centre, t.deps.config.resyncWindowSteps),
    }));
    if (!cached) t.deps.seedCache.set(fields.factorSid, entry); // with the cache off, this wipes the seed
    const r = await store.openAndAttempt(t.deps.prisma, {
      ...fields,
      checked: {
        serviceSid: entry.serviceSid,
        entitySid: entry.entitySid,
        identity: entry.identity,
        secretKeyId: entry.secretKeyId,
        secretCiphertext: entry.secretCiphertext,
        ...entry.cfg,
        drift: entry.drift,
      },
      steps,
      audit: loginAudit(t, entry, fields.sid, fields.factorSid, now),
    });
    if (r.kind === 'stale' || r.kind === 'no-factor' || r.kind === 'factor-unverified') t.deps.seedCache.delete(fields.factorSid);
    if (r.kind === 'no-factor') throw new NotFoundError('Factor', input);
    if (r.kind === 'factor-unverified') throw new FactorNotVerifiedError();
    if (r.kind === 'stale') {
      // The factor changed between the check and the statement (an update, a key rotation, or a
      // concurrent charge armed the throttle): nothing was written; check again on a fresh read.
      if (round < 5) continue;
      throw new Error('factor kept changing during a login');
    }
    // The statement moved the window's centre (RFC 6238 §6) and says to what: the entry follows the
    // row, so the next login needs no re-read. A login that already read the old drift finds the row
    // changed (its statement's drift check) and reads again. Changed in place: the entry's age (the
    // seed's time in memory) still counts from its decryption.
    if (r.kind === 'answered' && r.drift !== entry.drift) entry.drift = r.drift;
    const { challenge } = r;
    const created = { event: challengeEvent('challenge.created', challenge), known: { webhookSids: r.createdWebhookSids } };
    if (r.kind === 'throttled') {
      await emit(t.deps, created.event, created.known);
      scheduleExpiry(t.deps, challenge);
      throw await throttled(t, challenge, r.throttledUntil, now);
    }
    t.deps.auditLog.kick(t.accountSid); // the event is committed in the inbox; it joins the chain in a grouped seal
    if (r.outcome === 'approved') {
      t.deps.metrics.verification('challenge', 'approved');
      const approved = { event: challengeEvent('challenge.approved', challenge), known: { webhookSids: r.approvedWebhookSids } };
      await emitAll(t.deps, [created, approved]);
      // Approved on creation (the login hot path) needs no expiry job: one queue round trip less.
      return challenge;
    }
    await emit(t.deps, created.event, created.known);
    t.deps.metrics.verification('challenge', 'wrong_code');
    scheduleExpiry(t.deps, challenge);
    return challenge;
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
