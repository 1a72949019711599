import { Prisma, type Factor } from '../generated/prisma/client.ts';
import type { PrismaClient } from './client.ts';
import { THROTTLE } from '../domain/throttle.ts';
import { keysetPage } from './paging.ts';
import { PREPARED, hotQuery } from './prepared.ts';

// The Factor aggregate's persistence: every statement that reads or writes "Factor" rows, and the
// SQL fragments that carry its invariants into the statements of other stores (a challenge's
// attempt charges its factor; an approval consumes its factor's time step).

// ------------------------------------------------------------------ invariants, as SQL fragments

/**
 * RFC 6238 §5.2, a code is accepted once: a time step is consumed only if it is later than the
 * last one used. `stepUnused` is the condition, `consumeStep` the SET list; the statement that
 * approves a challenge (challenge-store approveWithStep), the one that verifies an enrolment
 * (verifyWithStep) and a resynchronisation (resyncWithSteps) all use them, so the rule is written
 * once. Success also resets the streak.
 *
 * `drift` (RFC 6238 §6, "record the drift") is written by the same statement, so the drift a
 * check observed and the step it used change together or not at all: the caller computes it
 * (domain/resync.ts observedDrift: the drift read, moved one step towards the accepted code) and
 * passes it always, unchanged when the code was at the centre, so the statement's text is fixed.
 */
export const stepUnused = (step: bigint) => Prisma.sql`("lastUsedTimeStep" IS NULL OR "lastUsedTimeStep" < ${step})`;
export const consumeStep = (step: bigint, drift: number) =>
  Prisma.sql`"lastUsedTimeStep" = ${step}, "drift" = ${drift}::int, "failureStreak" = 0, "throttledUntil" = NULL`;

/** The factor's guessing throttle is not armed at `now` (THROTTLE). */
export const notThrottled = (now: Date) => Prisma.sql`("throttledUntil" IS NULL OR "throttledUntil" <= ${now}::timestamp(3))`;

/** The SET list that charges one attempt to a factor's failure streak and arms the throttle (THROTTLE). */
export const streakCharge = (now: Date) =>
  Prisma.sql`"failureStreak" = "failureStreak" + 1, "throttledUntil" = ${throttleAfterCharge(now)}`;

/** throttledUntil once one more failure is charged (THROTTLE's schedule). */
const throttleAfterCharge = (now: Date) => Prisma.sql`CASE WHEN "failureStreak" + 1 > ${THROTTLE.freeFailures}
    THEN ${now}::timestamp(3) + make_interval(secs => LEAST(${THROTTLE.maxDelayS}::float8,
           ${THROTTLE.baseDelayS}::float8 * power(2::float8, "failureStreak" - ${THROTTLE.freeFailures})))
    ELSE NULL END`;

/** What checking a code needs from the factor (seed, config, replay guard, the window's centre), read by the charging statement. */
export type CodeFactor = Pick<
  Factor,
  'sid' | 'secretCiphertext' | 'secretKeyId' | 'alg' | 'codeLength' | 'timeStep' | 'skew' | 'lastUsedTimeStep' | 'drift'
>;

/**
 * One attempt's whole effect on its factor, as one SET list: charge the attempt (streakCharge) and,
 * when `steps` holds a step later than the last one used (stepUnused), consume the earliest such
 * step, record the drift that step implies (`drifts`, parallel to `steps`: RFC 6238 §6, as
 * consumeStep does) and reset the streak instead. Evaluated on the row version the UPDATE locked,
 * so of two racing requests with the same code only the first finds the step unused (RFC 6238
 * §5.2). The updated row's "failureStreak" = 0 tells whether the step was taken. `steps` are
 * decimal text (bigint in SQL). The four columns are set from one sub-select, so the earliest
 * unused step is looked up once per row, not once per column (each lookup is a plan node the
 * login statement starts on every execution).
 */
export const attemptCharge = (steps: string[], drifts: number[], now: Date) => Prisma.sql`
  ("lastUsedTimeStep", "drift", "failureStreak", "throttledUntil") = (
    SELECT COALESCE(x.s, "lastUsedTimeStep"), COALESCE(x.d, "drift"),
      CASE WHEN x.s IS NOT NULL THEN 0 ELSE "failureStreak" + 1 END,
      CASE WHEN x.s IS NOT NULL THEN NULL ELSE ${throttleAfterCharge(now)} END
    FROM (SELECT) AS one LEFT JOIN LATERAL (
      SELECT s, d FROM unnest(${steps}::bigint[], ${drifts}::int[]) AS u(s, d)
      WHERE "lastUsedTimeStep" IS NULL OR s > "lastUsedTimeStep" ORDER BY s LIMIT 1
    ) AS x ON true)`;

/** What a login needs to check a code before its statement (seed, config, subjects), read without locking. */
export type LoginFactor = CodeFactor & Pick<Factor, 'accountSid' | 'serviceSid' | 'entitySid' | 'identity' | 'status'>;

export async function findLoginFactor(prisma: PrismaClient, accountSid: string, sid: string): Promise<LoginFactor | null> {
  const rows = await hotQuery<LoginFactor>(
    prisma,
    Prisma.sql`${PREPARED}
    SELECT "sid", "accountSid", "serviceSid", "entitySid", "identity", "status"::text AS "status", "secretCiphertext", "secretKeyId",
      "alg"::text AS "alg", "codeLength", "timeStep", "skew", "lastUsedTimeStep", "drift"
    FROM "Factor" WHERE "sid" = ${sid} AND "accountSid" = ${accountSid}`,
  );
  return rows[0] ?? null;
}

// ------------------------------------------------------------------ enrolment

export type NewFactor = Omit<Prisma.FactorUncheckedCreateInput, 'entitySid' | 'secretFingerprint'>;

/**
 * Inserts a factor unless its entity is at `limit` factors or already has one with this seed
 * fingerprint (Twilio 60317). Enrolments on one entity serialise on the entity's row lock, so the
 * cap holds under concurrency; a racing duplicate that slips past is caught by the unique index.
 */
export async function insertFactor(
  prisma: PrismaClient,
  p: { entitySid: string; fingerprint: string; limit: number; data: NewFactor },
): Promise<{ kind: 'created'; factor: Factor } | { kind: 'limit' } | { kind: 'duplicate' }> {
  try {
    // Enrolments on one entity queue on its row lock: allow a burst to wait rather than fail.
    return await prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT 1 FROM "Entity" WHERE "sid" = ${p.entitySid} FOR UPDATE`;
        const count = await tx.factor.count({ where: { entitySid: p.entitySid } });
        if (count >= p.limit) return { kind: 'limit' as const };
        const dup = await tx.factor.findFirst({
          where: { entitySid: p.entitySid, secretFingerprint: p.fingerprint },
          select: { sid: true },
        });
        if (dup) return { kind: 'duplicate' as const };
        const factor = await tx.factor.create({ data: { ...p.data, entitySid: p.entitySid, secretFingerprint: p.fingerprint } });
        return { kind: 'created' as const, factor };
      },
      { maxWait: 10_000, timeout: 10_000 },
    );
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') return { kind: 'duplicate' };
    throw e;
  }
}

/**
 * One imported factor, all or nothing: the entity (created if missing) and the factor are written
 * in one transaction, so a failed item leaves nothing behind. Same rules as insertFactor (the
 * entity's row lock serialises its enrolments; `limit` factors per entity); a factor with this
 * seed fingerprint on the entity already is `existing` (an import repeated is a no-op, not an error).
 */
export async function importFactor(
  prisma: PrismaClient,
  p: {
    entity: { sid: string; accountSid: string; serviceSid: string; identity: string };
    fingerprint: string;
    limit: number;
    data: Omit<NewFactor, 'identity' | 'accountSid' | 'serviceSid'>;
  },
): Promise<{ kind: 'created'; factor: Factor } | { kind: 'existing'; factorSid: string } | { kind: 'limit' }> {
  const e = p.entity;
  try {
    return await prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`
          INSERT INTO "Entity" ("sid", "accountSid", "serviceSid", "identity")
          VALUES (${e.sid}, ${e.accountSid}, ${e.serviceSid}, ${e.identity})
          ON CONFLICT ("serviceSid", "identity") DO NOTHING`;
        const [entity] = await tx.$queryRaw<{ sid: string }[]>`
          SELECT "sid" FROM "Entity" WHERE "serviceSid" = ${e.serviceSid} AND "identity" = ${e.identity} FOR UPDATE`;
        const entitySid = entity!.sid;
        // One round trip for both checks: imports run thousands of these.
        const [seen] = await tx.$queryRaw<{ dup: string | null; count: number }[]>`
          SELECT (SELECT "sid" FROM "Factor" WHERE "entitySid" = ${entitySid} AND "secretFingerprint" = ${p.fingerprint}) AS "dup",
                 (SELECT count(*)::int FROM "Factor" WHERE "entitySid" = ${entitySid}) AS "count"`;
        if (seen!.dup) return { kind: 'existing' as const, factorSid: seen!.dup };
        if (seen!.count >= p.limit) return { kind: 'limit' as const };
        const factor = await tx.factor.create({
          data: {
            ...p.data,
            accountSid: e.accountSid,
            serviceSid: e.serviceSid,
            identity: e.identity,
            entitySid,
            secretFingerprint: p.fingerprint,
          },
        });
        return { kind: 'created' as const, factor };
      },
      { maxWait: 10_000, timeout: 10_000 },
    );
  } catch (err) {
    // Two items of one batch with the same identity and seed raced past the check: the index decides.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const dup = await prisma.factor.findFirst({
        where: { serviceSid: e.serviceSid, identity: e.identity, secretFingerprint: p.fingerprint },
        select: { sid: true },
      });
      if (dup) return { kind: 'existing', factorSid: dup.sid };
    }
    throw err;
  }
}

/**
 * Charges one enrolment attempt before the code is looked at, conditionally (at most `max`, Twilio
 * 60310): concurrent guesses cannot exceed the cap through a check-then-act gap. False when spent
 * or no longer unverified.
 */
export async function chargeEnrolmentAttempt(prisma: PrismaClient, factorSid: string, max: number): Promise<boolean> {
  const charged = await prisma.factor.updateMany({
    where: { sid: factorSid, status: 'unverified', verifyAttempts: { lt: max } },
    data: { verifyAttempts: { increment: 1 } },
  });
  return charged.count === 1;
}

/** Unverified → verified, consuming the code's time step in the same conditional write (stepUnused). */
export async function verifyWithStep(
  prisma: PrismaClient,
  p: { factorSid: string; step: bigint; drift: number; now: Date },
): Promise<boolean> {
  const n = await prisma.$executeRaw`
    UPDATE "Factor" SET "status" = 'verified', ${consumeStep(p.step, p.drift)}, "dateUpdated" = ${p.now}::timestamp(3)
    WHERE "sid" = ${p.factorSid} AND "status" = 'unverified' AND ${stepUnused(p.step)}`;
  return n === 1;
}

// ------------------------------------------------------------------ resynchronisation (RFC 6238 §6)

/**
 * Charges one attempt to the factor's guessing throttle (THROTTLE), conditionally, before any code
 * is looked at: refused (null) while the throttle is armed, so concurrent guesses cannot slip
 * through a check-then-act gap. Returns what checking the codes needs, as charged.
 */
export async function chargeFactorThrottle(
  prisma: PrismaClient,
  p: { accountSid: string; factorSid: string; now: Date },
): Promise<CodeFactor | null> {
  const rows = await prisma.$queryRaw<CodeFactor[]>`
    UPDATE "Factor" SET ${streakCharge(p.now)}
    WHERE "sid" = ${p.factorSid} AND "accountSid" = ${p.accountSid} AND ${notThrottled(p.now)}
    RETURNING "sid", "secretCiphertext", "secretKeyId", "alg", "codeLength", "timeStep", "skew", "lastUsedTimeStep", "drift"`;
  return rows[0] ?? null;
}

/**
 * Records a resynchronisation: steps `step` and `step + 1` matched, so both count as used (the last
 * used step becomes step + 1, RFC 6238 §5.2) and the drift is set — only if `step` is still unused,
 * so two racing resyncs with the same codes, or a login that used a later step meanwhile, cannot
 * both win or move the used step backwards.
 */
export async function resyncWithSteps(
  prisma: PrismaClient,
  p: { factorSid: string; step: bigint; drift: number; now: Date },
): Promise<boolean> {
  const n = await prisma.$executeRaw`
    UPDATE "Factor" SET ${consumeStep(p.step + 1n, p.drift)}, "dateUpdated" = ${p.now}::timestamp(3)
    WHERE "sid" = ${p.factorSid} AND ${stepUnused(p.step)}`;
  return n === 1;
}

// ------------------------------------------------------------------ reads

export async function findFactor(prisma: PrismaClient, accountSid: string, sid: string): Promise<Factor | null> {
  return prisma.factor.findFirst({ where: { sid, accountSid } });
}

/** A factor by its REST path (service, identity, SID), inside one account. */
export async function findEntityFactor(
  prisma: PrismaClient,
  accountSid: string,
  ref: { serviceSid: string; identity: string; factorSid: string },
): Promise<Factor | null> {
  return prisma.factor.findFirst({ where: { sid: ref.factorSid, serviceSid: ref.serviceSid, identity: ref.identity, accountSid } });
}

/** What a webhook payload says about a factor: public fields only. */
export async function factorForPayload(prisma: PrismaClient, accountSid: string, factorSid: string) {
  return prisma.factor.findFirst({ where: { sid: factorSid, accountSid }, select: { friendlyName: true, status: true, metadata: true } });
}

/** One page of an entity's factors; `where` adds the caller's scope terms. */
export function factorPage(
  prisma: PrismaClient,
  where: { entitySid: string; accountSid: string; serviceSid?: string; identity?: string },
  page: { first?: number | null; after?: string | null; order: 'asc' | 'desc' },
) {
  return keysetPage(prisma.factor, where, page);
}

// ------------------------------------------------------------------ changes

/**
 * Applies `data` only if the row is still as read (its dateUpdated and used step): false when a
 * concurrent write or login got there first, and the caller re-reads and applies again.
 */
export async function updateFactorIfUnchanged(
  prisma: PrismaClient,
  read: Pick<Factor, 'sid' | 'dateUpdated' | 'lastUsedTimeStep'>,
  data: Prisma.FactorUpdateManyMutationInput,
): Promise<boolean> {
  // A login consumes a step without touching dateUpdated: matching the step read too keeps a stale
  // update from writing back an older step and reopening a used code (RFC 6238 §5.2).
  const updated = await prisma.factor.updateMany({
    where: { sid: read.sid, dateUpdated: read.dateUpdated, lastUsedTimeStep: read.lastUsedTimeStep },
    data,
  });
  return updated.count === 1;
}

export async function deleteFactor(prisma: PrismaClient, accountSid: string, sid: string): Promise<boolean> {
  const deleted = await prisma.factor.deleteMany({ where: { sid, accountSid } });
  return deleted.count === 1;
}

// ------------------------------------------------------------------ key rotation

export async function countFactorsNotUnder(prisma: PrismaClient, keyId: string): Promise<number> {
  return prisma.factor.count({ where: { secretKeyId: { not: keyId } } });
}

/** The next batch of seeds not under `keyId`, in SID order after `after` (keyset: resumable). */
export async function factorSeedsNotUnder(prisma: PrismaClient, keyId: string, after: string, take: number) {
  return prisma.factor.findMany({
    where: { secretKeyId: { not: keyId }, sid: { gt: after } },
    select: { sid: true, secretKeyId: true, secretCiphertext: true },
    orderBy: { sid: 'asc' },
    take,
  });
}

/** Rewrites a batch of seeds in one transaction, each only if still under the key it was read with. */
export async function rewriteFactorSeeds(
  prisma: PrismaClient,
  rows: { sid: string; fromKeyId: string; keyId: string; ciphertext: Uint8Array<ArrayBuffer> }[],
): Promise<void> {
  await prisma.$transaction(
    rows.map((r) =>
      prisma.factor.updateMany({
        where: { sid: r.sid, secretKeyId: r.fromKeyId },
        data: { secretKeyId: r.keyId, secretCiphertext: r.ciphertext },
      }),
    ),
  );
}
