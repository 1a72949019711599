import { z } from 'zod';
import type { Challenge, Factor } from '../generated/prisma/client.ts';
import { FactorNotVerifiedError, ForbiddenError, NotFoundError, TooManyAttemptsError } from '../domain/errors.ts';
import { effectiveStatus, resolveExpiration, transition, type ChallengeStatus } from '../domain/challenge.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { retryAfterSeconds } from '../domain/throttle.ts';
import { verifyCode } from '../domain/totp.ts';
import { LIMITS, authPayloadSchema, pageArgsSchema, parseInput, stringMapSchema } from '../domain/validation.ts';
import { approveWithStep, chargeChallengeAttempt, expireOne, expireOverdueBatch, openChallenge, type CodeFactor, type ExpiredRow } from '../db/attempts.ts';
import { keysetPage } from '../db/paging.ts';
import type { VerityEvent } from '../events/index.ts';
import type { Tenant } from './context.ts';
import type { Deps } from '../deps.ts';
import { configOf, factorSeed, getFactor } from './factors.ts';
import { emit } from './events.ts';
import { audit, recordAudit, recordAuditBatch, type AuditInput } from './audit.ts';
import { countRefusal } from '../observability/metrics.ts';
import { assertInScope, scopeWhere } from './scope.ts';

export const EXPIRE_JOB = 'expire-challenge';
export const RECONCILE_JOB = 'reconcile-expiry';

const jsonObjectSchema = z
  .record(z.string(), z.unknown())
  .refine((o) => JSON.stringify(o).length <= LIMITS.jsonChars, `must be at most ${LIMITS.jsonChars} characters serialised`);

const detailsSchema = z.object({
  message: z.string().max(LIMITS.detailsMessage, `must be at most ${LIMITS.detailsMessage} characters`).nullish(),
  fields: z
    .array(
      z.object({
        label: z.string().min(1, 'must not be empty').max(LIMITS.detailsLabel, `must be at most ${LIMITS.detailsLabel} characters`),
        value: z.string().max(LIMITS.detailsValue, `must be at most ${LIMITS.detailsValue} characters`),
      }),
    )
    .max(LIMITS.detailsFields, `at most ${LIMITS.detailsFields} fields`)
    .nullish(),
});

const createInput = z.object({
  factorSid: z.string(),
  authPayload: authPayloadSchema.nullish(),
  expirationDate: z.date().nullish(),
  details: detailsSchema.nullish(),
  hiddenDetails: jsonObjectSchema.nullish(),
  metadata: stringMapSchema.nullish(),
});

const verifyInput = z.object({ challengeSid: z.string(), authPayload: authPayloadSchema, metadata: stringMapSchema.nullish() });

/** Unvalidated, as a client sends it: parseInput checks every field. */
export type CreateChallengeInput = Omit<z.input<typeof createInput>, 'metadata'> & { metadata?: Record<string, unknown> | null };

const challengeEvent = (type: 'challenge.created' | 'challenge.approved' | 'challenge.expired', c: Pick<Challenge, 'sid' | 'accountSid' | 'serviceSid' | 'identity' | 'factorSid'>): VerityEvent => ({
  type, accountSid: c.accountSid, serviceSid: c.serviceSid, identity: c.identity, factorSid: c.factorSid, challengeSid: c.sid,
});

type ChallengeRef = Pick<Challenge, 'sid' | 'accountSid' | 'serviceSid' | 'entitySid' | 'identity' | 'factorSid'>;

/** An audit event about a challenge: its subjects, and the identity (never the code) in details. */
const challengeAudit = (type: 'challenge.approved' | 'challenge.failed' | 'challenge.throttled' | 'challenge.expired', c: ChallengeRef, details: Record<string, unknown> = {}) => ({
  type, serviceSid: c.serviceSid, entitySid: c.entitySid, factorSid: c.factorSid, challengeSid: c.sid, details: { identity: c.identity, ...details },
});

/** A challenge as every reader sees it: overdue pending reads EXPIRED whether or not a job ran. */
export function withEffectiveStatus<C extends Pick<Challenge, 'status' | 'expirationDate'>>(c: C, now: Date): C {
  const status = effectiveStatus(c, now);
  return status === c.status ? c : { ...c, status };
}

export async function findChallenge(t: Tenant, sid: string): Promise<Challenge | null> {
  if (!isSid('challenge', sid)) return null;
  const c = await t.deps.prisma.challenge.findFirst({ where: { sid: normalizeSid(sid), accountSid: t.accountSid } });
  if (c) assertInScope(t, c);
  return c && withEffectiveStatus(c, t.deps.now());
}

export async function getChallenge(t: Tenant, sid: string): Promise<Challenge> {
  const c = await findChallenge(t, sid);
  if (!c) throw new NotFoundError('Challenge', sid);
  return c;
}

/**
 * A challenge addressed the way Twilio's REST paths address it (`…/Entities/{identity}/Challenges/{YC}`):
 * Twilio 60391 scopes the lookup by ServiceSid + Identity + Sid, so a mismatch is NOT_FOUND.
 */
export async function findEntityChallenge(t: Tenant, ref: { serviceSid: string; identity: string; challengeSid: string }): Promise<Challenge | null> {
  if (!isSid('challenge', ref.challengeSid) || !isSid('service', ref.serviceSid)) return null;
  const c = await t.deps.prisma.challenge.findFirst({
    where: { sid: normalizeSid(ref.challengeSid), serviceSid: normalizeSid(ref.serviceSid), identity: ref.identity, accountSid: t.accountSid },
  });
  return c && withEffectiveStatus(c, t.deps.now());
}

export async function getEntityChallenge(t: Tenant, ref: { serviceSid: string; identity: string; challengeSid: string }): Promise<Challenge> {
  const c = await findEntityChallenge(t, ref);
  if (!c) throw new NotFoundError('Challenge', ref.challengeSid);
  return c;
}

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
  const charged = await chargeChallengeAttempt(t.deps.prisma, { challengeSid: challenge.sid, factorSid: factor.sid, now });
  if (!charged) {
    const fresh = await getChallenge(t, challenge.sid);
    countRefusal(t.deps.metrics, 'challenge', () => transition(fresh, 'fail', now)); // throws the precise error: expired, responded, or attempts exhausted
    throw await throttled(t, challenge, (await getFactor(t, factor.sid)).throttledUntil, now);
  }
  return checkCharged(t, charged, factor, code, now);
}

/**
 * The code of an attempt already charged to `charged`: evaluated against the factor's seed, then
 * approved with its time step in one conditional statement (RFC 6238 §5.2: accepted once).
 */
async function checkCharged(t: Tenant, charged: Challenge, factor: CodeFactor, code: string, now: Date): Promise<Challenge> {
  const seed = factorSeed(t, factor);
  const result = verifyCode(seed, code, configOf(factor), Math.floor(now.getTime() / 1000), factor.lastUsedTimeStep);
  seed.fill(0);
  if (!result.valid) {
    // Wrong or replayed (verifyCode refuses steps ≤ lastUsedTimeStep, RFC 6238 §5.2): the charged row is the answer (still PENDING).
    t.deps.metrics.verification('challenge', 'wrong_code');
    await audit(t, challengeAudit('challenge.failed', charged, { reason: 'wrong_code' }));
    return charged;
  }
  const approved = await approveWithStep(t.deps.prisma, { challengeSid: charged.sid, factorSid: factor.sid, step: BigInt(result.timeStep), now });
  if (approved) {
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
    // Same precedence as ever: an unknown or unverified factor is reported before a bad date.
    const factor = await getFactor(t, data.factorSid);
    if (factor.status !== 'verified') throw new FactorNotVerifiedError();
    throw e;
  }
  const opened = await openChallenge(t.deps.prisma, {
    sid: newSid('challenge'), accountSid: t.accountSid, factorSid: normalizeSid(data.factorSid), expirationDate, now,
    detailsMessage: data.details?.message ?? null, detailsFields: data.details?.fields, hiddenDetails: data.hiddenDetails,
    metadata: data.metadata, charge: !!data.authPayload,
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

export async function verifyChallenge(t: Tenant, input: { challengeSid: string; authPayload: string; metadata?: Record<string, unknown> | null }): Promise<Challenge> {
  const data = parseInput(verifyInput, input);
  const challenge = await getChallenge(t, data.challengeSid);
  const now = t.deps.now();
  if (challenge.status === 'expired') await markExpired(t.deps, challenge, now); // persist what readers already see
  countRefusal(t.deps.metrics, 'challenge', () => transition(challenge, 'fail', now)); // guards: expired 60323, responded 60322, cap 60308
  if (data.metadata) {
    await t.deps.prisma.challenge.update({ where: { sid: challenge.sid }, data: { metadata: data.metadata } });
  }
  const factor = await getFactor(t, challenge.factorSid);
  return attemptCode(t, challenge, factor, data.authPayload);
}

export async function listChallenges(
  t: Tenant,
  entitySid: string,
  args: { first?: number | null; after?: string | null; factorSid?: string | null; status?: ChallengeStatus | null; order?: 'asc' | 'desc' | null },
) {
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  const now = t.deps.now();
  // Status filters use the effective status: PENDING excludes overdue rows, EXPIRED includes them.
  const statusWhere =
    args.status === 'pending' ? { status: 'pending' as const, expirationDate: { gt: now } }
    : args.status === 'expired' ? { OR: [{ status: 'expired' as const }, { status: 'pending' as const, expirationDate: { lte: now } }] }
    : args.status ? { status: args.status }
    : {};
  const where = {
    entitySid, accountSid: t.accountSid, ...scopeWhere(t), ...statusWhere,
    ...(args.factorSid ? { factorSid: isSid('factor', args.factorSid) ? normalizeSid(args.factorSid) : '' } : {}),
  };
  const result = await keysetPage(t.deps.prisma.challenge, where, { ...page, order: args.order ?? 'asc' });
  return { ...result, nodes: result.nodes.map((c) => withEffectiveStatus(c, now)) };
}

// ------------------------------------------------------------------ expiry (jobs)

/** Bus (subscriptions) and webhooks, one path (services/events.ts). */

/** One delayed job per challenge; its id comes from the SID, so retries and duplicates are harmless. */
async function scheduleExpiry(deps: Deps, c: Challenge) {
  try {
    await deps.jobs.enqueue(EXPIRE_JOB, { challengeSid: c.sid }, { jobId: `expire-${c.sid}`, runAt: c.expirationDate, attempts: 5, backoffMs: 1000 });
  } catch (err) {
    // The queue being down never fails a request: reconciliation expires it anyway.
    deps.logger.warn({ err, challengeSid: c.sid }, 'could not schedule expiry; reconciliation will catch it');
  }
}

async function markExpired(deps: Deps, c: Pick<Challenge, 'sid'>, now: Date): Promise<ExpiredRow | null> {
  const r = await expireOne(deps.prisma, c.sid, now);
  if (!r) return null;
  await emit(deps, challengeEvent('challenge.expired', r), { webhookSids: r.webhookSids });
  await recordAudit(deps, expiredAudit(r));
  return r;
}

const expiredAudit = (c: ChallengeRef): AuditInput => ({ ...challengeAudit('challenge.expired', c), accountSid: c.accountSid, actor: 'system' });

/** The delayed job's handler: conditional (only PENDING → EXPIRED), so early, late or repeated runs are safe. */
export async function expireChallengeJob(deps: Deps, challengeSid: string): Promise<void> {
  const now = deps.now();
  const expired = await markExpired(deps, { sid: challengeSid }, now);
  if (expired) return void deps.metrics.expired(expired.expirationDate, now); // the common case: one statement
  const c = await deps.prisma.challenge.findUnique({ where: { sid: challengeSid }, select: { sid: true, status: true, expirationDate: true } });
  if (!c || c.status !== 'pending' || c.expirationDate <= now) return; // gone, answered, or expired meanwhile
  // Ran early (clock skew between hosts): try again at the right time. A new job id, since this
  // running job still holds `expire-<sid>` and a same-id enqueue would be ignored.
  const runAt = new Date(Date.now() + (c.expirationDate.getTime() - now.getTime()));
  await deps.jobs
    .enqueue(EXPIRE_JOB, { challengeSid: c.sid }, { jobId: `expire-${c.sid}-${runAt.getTime()}`, runAt, attempts: 5, backoffMs: 1000 })
    .catch((err: unknown) => deps.logger.warn({ err, challengeSid: c.sid }, 'could not reschedule expiry; reconciliation will catch it'));
}

/**
 * The repeating job: expires every overdue pending challenge in batches, whatever happened to the
 * delayed jobs, and keeps going while batches come back full. Pipelined: the next batch's UPDATE
 * runs while the previous batch is announced (audit append and events), so PostgreSQL's work and
 * ours overlap; at most one batch is being announced at a time (memory stays bounded, audit
 * batches append in expiry order, a batch's events leave before the next batch's).
 */
export async function reconcileExpiry(deps: Deps, batchSize = 5000): Promise<number> {
  let total = 0;
  let announcing: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const now = deps.now();
      const rows = await expireOverdueBatch(deps.prisma, now, batchSize);
      await announcing;
      announcing = announceExpired(deps, rows, now);
      total += rows.length;
      if (rows.length < batchSize) return total;
    }
  } finally {
    // Even when an UPDATE fails, the batch already expired is announced before we return.
    await announcing;
  }
}

/** A committed batch's audit rows and events. Never throws (recordAuditBatch and emit do not). */
async function announceExpired(deps: Deps, rows: ExpiredRow[], now: Date): Promise<void> {
  if (rows.length === 0) return;
  for (const r of rows) deps.metrics.expired(r.expirationDate, now);
  await Promise.all([
    recordAuditBatch(deps, rows.map(expiredAudit)), // one transaction per batch, not one per row
    // Subscribers came with the rows, so an event costs a publish (pipelined) and, only where a
    // webhook subscribes, its fan-out: the batch is announced concurrently, not one await per row.
    ...rows.map((r) => emit(deps, challengeEvent('challenge.expired', r), { webhookSids: r.webhookSids })),
  ]);
}
