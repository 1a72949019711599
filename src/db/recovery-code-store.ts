import type { PrismaClient } from './client.ts';
import { notThrottled, streakCharge } from './factor-store.ts';

// The recovery-code aggregate's persistence: an entity's code hashes ("RecoveryCode") and its
// guessing throttle ("RecoveryCodeState"). The throttle reuses the factor throttle's SQL fragments
// (same columns, same THROTTLE schedule), so both kinds of guessing back off alike.

/**
 * Replaces an entity's set in one transaction: the state row is upserted first, which locks it, so
 * concurrent replacements queue and the last one's codes are the only ones left (never a mix of
 * two sets). The throttle survives a new set: only a correct code resets it.
 */
export async function replaceRecoveryCodes(
  prisma: PrismaClient,
  p: { accountSid: string; entitySid: string; hashes: string[]; now: Date },
): Promise<void> {
  await prisma.$transaction([
    prisma.$executeRaw`
      INSERT INTO "RecoveryCodeState" ("entitySid", "accountSid", "dateGenerated")
      VALUES (${p.entitySid}, ${p.accountSid}, ${p.now}::timestamp(3))
      ON CONFLICT ("entitySid") DO UPDATE SET "dateGenerated" = EXCLUDED."dateGenerated"`,
    prisma.recoveryCode.deleteMany({ where: { entitySid: p.entitySid, accountSid: p.accountSid } }),
    prisma.recoveryCode.createMany({
      data: p.hashes.map((codeHash) => ({ entitySid: p.entitySid, accountSid: p.accountSid, codeHash, dateCreated: p.now })),
    }),
  ]);
}

export type RecoveryCharge =
  /** The entity never had codes: nothing to guess, nothing charged. */
  | { kind: 'no-codes' }
  | { kind: 'charged' }
  /** The throttle is armed; `throttledUntil` as last read (may predate the refusing write). */
  | { kind: 'throttled'; throttledUntil: Date | null };

/**
 * Charges one redemption attempt to the entity's failure streak before the code is looked at, in
 * one conditional UPDATE: concurrent guesses serialise on the state row and cannot slip past the
 * throttle through a check-then-act gap.
 */
export async function chargeRecoveryAttempt(
  prisma: PrismaClient,
  p: { accountSid: string; entitySid: string; now: Date },
): Promise<RecoveryCharge> {
  const rows = await prisma.$queryRaw<{ exists: boolean; charged: number; throttledUntil: Date | null }[]>`
    WITH s AS (
      SELECT "throttledUntil" FROM "RecoveryCodeState" WHERE "entitySid" = ${p.entitySid} AND "accountSid" = ${p.accountSid}
    ), c AS (
      UPDATE "RecoveryCodeState" SET ${streakCharge(p.now)}
      WHERE "entitySid" = ${p.entitySid} AND "accountSid" = ${p.accountSid} AND ${notThrottled(p.now)}
      RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM s) AS "exists", (SELECT count(*) FROM c)::int AS "charged",
      (SELECT "throttledUntil" FROM s) AS "throttledUntil"`;
  const r = rows[0]!;
  if (!r.exists) return { kind: 'no-codes' };
  return r.charged === 1 ? { kind: 'charged' } : { kind: 'throttled', throttledUntil: r.throttledUntil };
}

/**
 * Takes one code: the DELETE of its hash is the whole decision, so of any number of concurrent
 * redemptions of one code exactly one deletes the row and wins. A win resets the streak in the
 * same statement.
 */
export async function takeRecoveryCode(
  prisma: PrismaClient,
  p: { accountSid: string; entitySid: string; codeHash: string },
): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ taken: number }[]>`
    WITH d AS (
      DELETE FROM "RecoveryCode"
      WHERE "entitySid" = ${p.entitySid} AND "accountSid" = ${p.accountSid} AND "codeHash" = ${p.codeHash}
      RETURNING 1
    ), r AS (
      UPDATE "RecoveryCodeState" SET "failureStreak" = 0, "throttledUntil" = NULL
      WHERE "entitySid" = ${p.entitySid} AND EXISTS (SELECT 1 FROM d)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM d)::int AS "taken"`;
  return rows[0]!.taken === 1;
}

export async function countRecoveryCodes(prisma: PrismaClient, p: { accountSid: string; entitySid: string }): Promise<number> {
  return prisma.recoveryCode.count({ where: { entitySid: p.entitySid, accountSid: p.accountSid } });
}
