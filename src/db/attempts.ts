import type { PrismaClient } from './client.ts';
import { THROTTLE } from '../domain/throttle.ts';
import { CHALLENGE } from '../domain/challenge.ts';

// The statements that must be atomic (DESIGN.md "Atomicity"), as named functions. Each is one SQL
// statement, so it holds on PostgreSQL and PGlite alike and costs one round trip.

/**
 * Charges one attempt before a code is even looked at: the challenge's try counter (≤ 5, Twilio
 * 60308) and the factor's failure streak, which sets the throttle (THROTTLE, reset on success).
 * Because the charge comes first and is conditional, N concurrent guesses cannot all slip through
 * a check-then-act gap. Returns false when the factor is throttled or the challenge is no longer
 * pending, unexpired and under its cap (the caller re-reads to say which).
 */
export async function chargeChallengeAttempt(prisma: PrismaClient, p: { challengeSid: string; factorSid: string; now: Date }): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ sid: string }[]>`
    WITH f AS (
      UPDATE "Factor" SET
        "failureStreak" = "failureStreak" + 1,
        "throttledUntil" = CASE WHEN "failureStreak" + 1 > ${THROTTLE.freeFailures}
          THEN ${p.now}::timestamp(3) + make_interval(secs => LEAST(${THROTTLE.maxDelayS}::float8,
                 ${THROTTLE.baseDelayS}::float8 * power(2::float8, "failureStreak" - ${THROTTLE.freeFailures})))
          ELSE NULL END
      WHERE "sid" = ${p.factorSid}
        AND ("throttledUntil" IS NULL OR "throttledUntil" <= ${p.now}::timestamp(3))
        AND EXISTS (SELECT 1 FROM "Challenge" c WHERE c."sid" = ${p.challengeSid} AND c."status" = 'pending'
                    AND c."expirationDate" > ${p.now}::timestamp(3) AND c."attempts" < ${CHALLENGE.maxAttempts})
      RETURNING "sid"
    )
    UPDATE "Challenge" SET "attempts" = "attempts" + 1
    WHERE "sid" = ${p.challengeSid} AND "status" = 'pending' AND "attempts" < ${CHALLENGE.maxAttempts}
      AND EXISTS (SELECT 1 FROM f)
    RETURNING "sid"`;
  return rows.length === 1;
}

/**
 * Approves a pending, unexpired challenge and consumes the factor's time step in one statement
 * (RFC 6238 §5.2: a code is accepted once): only if the step is later than the last one used.
 * Two racing requests with the same code cannot both win. Success resets the failure streak.
 */
export async function approveWithStep(
  prisma: PrismaClient,
  p: { challengeSid: string; factorSid: string; step: bigint; now: Date },
): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ sid: string }[]>`
    WITH consumed AS (
      UPDATE "Factor" SET "lastUsedTimeStep" = ${p.step}, "failureStreak" = 0, "throttledUntil" = NULL
      WHERE "sid" = ${p.factorSid} AND "status" = 'verified'
        AND ("lastUsedTimeStep" IS NULL OR "lastUsedTimeStep" < ${p.step})
        AND EXISTS (SELECT 1 FROM "Challenge" c WHERE c."sid" = ${p.challengeSid} AND c."status" = 'pending'
                    AND c."expirationDate" > ${p.now}::timestamp(3))
      RETURNING "sid"
    )
    UPDATE "Challenge" SET "status" = 'approved', "dateResponded" = ${p.now}::timestamp(3), "dateUpdated" = ${p.now}::timestamp(3)
    WHERE "sid" = ${p.challengeSid} AND "status" = 'pending' AND EXISTS (SELECT 1 FROM consumed)
    RETURNING "sid"`;
  return rows.length === 1;
}

/** Pending → expired for one challenge, only once it is overdue. Returns whether it changed. */
export async function expireOne(prisma: PrismaClient, challengeSid: string, now: Date): Promise<boolean> {
  const r = await prisma.challenge.updateMany({
    where: { sid: challengeSid, status: 'pending', expirationDate: { lte: now } },
    data: { status: 'expired', dateUpdated: now },
  });
  return r.count === 1;
}

export interface ExpiredRow {
  sid: string;
  accountSid: string;
  serviceSid: string;
  entitySid: string;
  identity: string;
  factorSid: string;
  expirationDate: Date;
}

/**
 * Expires up to `limit` overdue pending challenges in one statement. SKIP LOCKED lets several
 * workers drain in parallel without waiting on, or double-processing, each other's rows.
 */
export async function expireOverdueBatch(prisma: PrismaClient, now: Date, limit: number): Promise<ExpiredRow[]> {
  return prisma.$queryRaw<ExpiredRow[]>`
    UPDATE "Challenge" SET "status" = 'expired', "dateUpdated" = ${now}::timestamp(3)
    WHERE "sid" IN (
      SELECT "sid" FROM "Challenge"
      WHERE "status" = 'pending' AND "expirationDate" <= ${now}::timestamp(3)
      ORDER BY "expirationDate" LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) AND "status" = 'pending'
    RETURNING "sid", "accountSid", "serviceSid", "entitySid", "identity", "factorSid", "expirationDate"`;
}
