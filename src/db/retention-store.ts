import type { AuditCheckpoint } from '../domain/audit.ts';
import type { PrismaClient } from './client.ts';

// The retention purge's SQL (the rules are in src/services/retention.ts). Every delete is one
// short statement over at most `limit` rows, found through an index — the partial indexes of ended
// challenges and finished deliveries by dateCreated, the (accountSid, seq) key of AuditEvent — so
// it locks only the rows it deletes, which no request is using any more, and commits on its own:
// an interrupted purge loses nothing and the next run carries on.

/** One batch's outcome: rows deleted, and the newest dateCreated among them (the next batch's lower bound). */
export interface DeletedBatch {
  count: number;
  last: Date | null;
}

const batchOf = (rows: { n: bigint; last: Date | null }[]): DeletedBatch => ({
  count: Number(rows[0]?.n ?? 0),
  last: rows[0]?.last ?? null,
});

/**
 * Up to `limit` ended challenges (approved, denied, expired — never pending) created before
 * `before` and at or after `from`, oldest first. SKIP LOCKED: a row some request still holds is
 * left for the next run rather than waited for.
 */
export async function deleteEndedChallenges(prisma: PrismaClient, before: Date, from: Date | null, limit: number): Promise<DeletedBatch> {
  // The predicate is written as the index's (status <> 'pending'), so the planner can use it.
  const rows = await prisma.$queryRaw<{ n: bigint; last: Date | null }[]>`
    WITH gone AS (
      DELETE FROM "Challenge" WHERE "sid" IN (
        SELECT "sid" FROM "Challenge"
        WHERE status <> 'pending' AND "dateCreated" < ${before}::timestamp(3) AND "dateCreated" >= ${from ?? new Date(0)}::timestamp(3)
        ORDER BY "dateCreated" LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ) RETURNING "dateCreated"
    )
    SELECT count(*) AS n, max("dateCreated") AS last FROM gone`;
  return batchOf(rows);
}

/** Up to `limit` finished webhook deliveries (succeeded, dead) created before `before`, oldest first. */
export async function deleteFinishedWebhookDeliveries(
  prisma: PrismaClient,
  before: Date,
  from: Date | null,
  limit: number,
): Promise<DeletedBatch> {
  const rows = await prisma.$queryRaw<{ n: bigint; last: Date | null }[]>`
    WITH gone AS (
      DELETE FROM "WebhookDelivery" WHERE "sid" IN (
        SELECT "sid" FROM "WebhookDelivery"
        WHERE status IN ('succeeded', 'dead') AND "dateCreated" < ${before}::timestamp(3) AND "dateCreated" >= ${from ?? new Date(0)}::timestamp(3)
        ORDER BY "dateCreated" LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ) RETURNING "dateCreated"
    )
    SELECT count(*) AS n, max("dateCreated") AS last FROM gone`;
  return batchOf(rows);
}

/** What the purge will delete (through the same partial indexes), for the progress bar. */
export async function countPurgeable(prisma: PrismaClient, before: Date): Promise<{ challenges: number; webhookDeliveries: number }> {
  const [r] = await prisma.$queryRaw<{ c: bigint; d: bigint }[]>`
    SELECT (SELECT count(*) FROM "Challenge" WHERE status <> 'pending' AND "dateCreated" < ${before}::timestamp(3)) AS c,
           (SELECT count(*) FROM "WebhookDelivery" WHERE status IN ('succeeded', 'dead') AND "dateCreated" < ${before}::timestamp(3)) AS d`;
  return { challenges: Number(r!.c), webhookDeliveries: Number(r!.d) };
}

// ------------------------------------------------------------------ the audit trail

/** Up to `limit` accounts with a chain, after `after` (accountSid order, keyset). */
export async function auditChainsAfter(prisma: PrismaClient, after: string, limit: number): Promise<string[]> {
  const rows = await prisma.auditChain.findMany({
    where: { accountSid: { gt: after } },
    orderBy: { accountSid: 'asc' },
    take: limit,
    select: { accountSid: true },
  });
  return rows.map((r) => r.accountSid);
}

/** The newest checkpoint's seq (0: none), and the oldest event still stored (null: none). */
export async function auditRetentionState(prisma: PrismaClient, accountSid: string): Promise<{ covered: bigint; oldest: bigint | null }> {
  const [r] = await prisma.$queryRaw<{ covered: bigint | null; oldest: bigint | null }[]>`
    SELECT (SELECT max("seq") FROM "AuditCheckpoint" WHERE "accountSid" = ${accountSid}) AS covered,
           (SELECT min("seq") FROM "AuditEvent" WHERE "accountSid" = ${accountSid}) AS oldest`;
  return { covered: r?.covered ?? 0n, oldest: r?.oldest ?? null };
}

/**
 * The new cut: the last event after `covered` such that it and every event before it were
 * created before `before` (the first newer event stops it, even if an older one follows it in seq
 * order: the chain is cut in one place), with its hash; null when no such event is stored.
 * Walks the (accountSid, seq) key from `covered`, so it reads only the rows about to be purged.
 */
export async function auditCut(
  prisma: PrismaClient,
  accountSid: string,
  covered: bigint,
  before: Date,
): Promise<{ seq: bigint; hash: string } | null> {
  const rows = await prisma.$queryRaw<{ seq: bigint; hash: string }[]>`
    WITH stop AS (
      SELECT "seq" FROM "AuditEvent"
      WHERE "accountSid" = ${accountSid} AND "seq" > ${covered} AND "dateCreated" >= ${before}::timestamp(3)
      ORDER BY "seq" LIMIT 1
    )
    SELECT e."seq", e."hash" FROM "AuditEvent" e
    WHERE e."accountSid" = ${accountSid} AND e."seq" > ${covered}
      AND e."seq" < COALESCE((SELECT "seq" FROM stop), 9223372036854775807)
    ORDER BY e."seq" DESC LIMIT 1`;
  return rows[0] ?? null;
}

/** Records a checkpoint (a re-run that computed the same one finds it there and writes nothing). */
export async function insertAuditCheckpoint(prisma: PrismaClient, c: AuditCheckpoint): Promise<void> {
  await prisma.$executeRaw`
    INSERT INTO "AuditCheckpoint" ("accountSid", "seq", "hash", "dateCreated", "mac")
    VALUES (${c.accountSid}, ${c.seq}, ${c.hash}, ${c.dateCreated.toISOString()}::timestamp(3), ${c.mac})
    ON CONFLICT ("accountSid", "seq") DO NOTHING`;
}

/**
 * Up to `limit` of the account's oldest events at or before `covered` (a checkpoint's seq: the
 * append-only trigger refuses any other delete). Oldest first, so what is left of the covered
 * range is always its newest part, still linked up to the checkpoint.
 */
export async function deleteCoveredAuditEvents(prisma: PrismaClient, accountSid: string, covered: bigint, limit: number): Promise<number> {
  return prisma.$executeRaw`
    DELETE FROM "AuditEvent" WHERE "accountSid" = ${accountSid} AND "seq" IN (
      SELECT "seq" FROM "AuditEvent" WHERE "accountSid" = ${accountSid} AND "seq" <= ${covered} ORDER BY "seq" LIMIT ${limit}
    )`;
}
