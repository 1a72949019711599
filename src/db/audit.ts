import { Prisma } from '../generated/prisma/client.ts';
import type { PrismaClient } from './client.ts';
import { AUDIT_FORMAT, GENESIS_HASH, auditContentHash, auditLinkHash, type AuditContent, type AuditRow } from '../domain/audit.ts';

// Appends to the per-account hash chains (src/domain/audit.ts has the format). Two concurrent
// appends to one chain must never link to the same predecessor: each append advances the chain
// head row under its row lock and inserts the event in the same statement (or transaction).

/** The link hash computed in SQL: the same text as auditLinkHash (ASCII only, so UTF8 = ASCII). */
const linkSql = (seq: Prisma.Sql, prev: Prisma.Sql, contentHash: string) =>
  Prisma.sql`encode(sha256(convert_to(${AUDIT_FORMAT + '|'} || (${seq})::text || '|' || ${prev} || '|' || ${contentHash}::text, 'UTF8')), 'hex')`;

/**
 * One event, one statement, one round trip: an upsert of the chain head (created at seq 1 from the
 * genesis value, else locked and advanced: seq + 1, prevHash = old head, headHash = new link hash)
 * feeds the INSERT. ON CONFLICT DO UPDATE locks the head row and applies to its latest committed
 * version, so concurrent appends queue on that row and each gets the next seq — held for one
 * statement only, which keeps the login path cheap.
 */
export async function appendAuditEvent(prisma: PrismaClient, c: AuditContent): Promise<{ seq: bigint; hash: string }> {
  const ch = auditContentHash(c);
  const rows = await prisma.$queryRaw<{ seq: bigint; hash: string }[]>`
    WITH head AS (
      INSERT INTO "AuditChain" AS h ("accountSid", "seq", "prevHash", "headHash", "dateUpdated")
      VALUES (${c.accountSid}, 1, ${GENESIS_HASH}, ${linkSql(Prisma.sql`1`, Prisma.sql`${GENESIS_HASH}::text`, ch)}, ${c.dateCreated}::timestamp(3))
      ON CONFLICT ("accountSid") DO UPDATE SET
        "seq" = h."seq" + 1,
        "prevHash" = h."headHash",
        "headHash" = ${linkSql(Prisma.sql`h."seq" + 1`, Prisma.sql`h."headHash"`, ch)},
        "dateUpdated" = ${c.dateCreated}::timestamp(3)
      RETURNING "seq", "prevHash", "headHash"
    )
    INSERT INTO "AuditEvent" ("sid", "accountSid", "seq", "type", "serviceSid", "entitySid", "factorSid", "challengeSid",
                              "actor", "details", "dateCreated", "prevHash", "hash")
    SELECT ${c.sid}, ${c.accountSid}, head."seq", ${c.type}, ${c.serviceSid}, ${c.entitySid}, ${c.factorSid}, ${c.challengeSid},
           ${c.actor}, ${c.details}, ${c.dateCreated}::timestamp(3), head."prevHash", head."headHash"
    FROM head
    RETURNING "seq", "hash"`;
  return rows[0]!;
}

/**
 * Many events (the expiry drain's batch), any number of chains, one short transaction of four
 * statements whatever the batch size: make sure every head exists, lock the heads in accountSid
 * order (two batches never deadlock; single appends hold one head for one statement), compute the
 * links here (auditLinkHash is the SQL expression's twin), then insert all rows and advance the
 * heads in one statement. The rows go in as 13 arrays through unnest(), not as 13 bind parameters
 * per row: Prisma's createMany took ≈ 3 s for 5,000 rows on the shared box (and so overran the
 * 5 s interactive-transaction limit under load, losing the batch's audit rows); this takes tens of ms.
 */
export async function appendAuditEvents(prisma: PrismaClient, events: AuditContent[]): Promise<void> {
  if (events.length === 0) return;
  const accounts = [...new Set(events.map((e) => e.accountSid))].sort();
  const at = events[0]!.dateCreated;
  await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO "AuditChain" ("accountSid", "seq", "prevHash", "headHash", "dateUpdated")
      VALUES ${Prisma.join(accounts.map((a) => Prisma.sql`(${a}, 0, ${GENESIS_HASH}, ${GENESIS_HASH}, ${at}::timestamp(3))`))}
      ON CONFLICT ("accountSid") DO NOTHING`;
    const heads = await tx.$queryRaw<{ accountSid: string; seq: bigint; headHash: string }[]>`
      SELECT "accountSid", "seq", "headHash" FROM "AuditChain"
      WHERE "accountSid" IN (${Prisma.join(accounts)}) ORDER BY "accountSid" FOR UPDATE`;
    const state = new Map(heads.map((h) => [h.accountSid, { seq: h.seq, prev: h.headHash, head: h.headHash }]));
    const n = events.length;
    const col = {
      sid: new Array<string>(n), accountSid: new Array<string>(n), seq: new Array<string>(n), type: new Array<string>(n),
      serviceSid: new Array<string | null>(n), entitySid: new Array<string | null>(n), factorSid: new Array<string | null>(n),
      challengeSid: new Array<string | null>(n), actor: new Array<string>(n), details: new Array<string | null>(n),
      dateCreated: new Array<string>(n), prevHash: new Array<string>(n), hash: new Array<string>(n),
    };
    events.forEach((e, i) => {
      const s = state.get(e.accountSid)!;
      const seq = s.seq + 1n;
      const hash = auditLinkHash(seq, s.head, auditContentHash(e));
      col.sid[i] = e.sid; col.accountSid[i] = e.accountSid; col.seq[i] = String(seq); col.type[i] = e.type;
      col.serviceSid[i] = e.serviceSid; col.entitySid[i] = e.entitySid; col.factorSid[i] = e.factorSid; col.challengeSid[i] = e.challengeSid;
      col.actor[i] = e.actor; col.details[i] = e.details; col.dateCreated[i] = e.dateCreated.toISOString();
      col.prevHash[i] = s.head; col.hash[i] = hash;
      state.set(e.accountSid, { seq, prev: s.head, head: hash });
    });
    // dateCreated goes as ISO text: a zone suffix is ignored by timestamp(3), which holds UTC here
    // (as Prisma writes DateTime), so the stored instant is exactly the hashed one.
    await tx.$executeRaw`
      WITH inserted AS (
        INSERT INTO "AuditEvent" ("sid", "accountSid", "seq", "type", "serviceSid", "entitySid", "factorSid", "challengeSid",
                                  "actor", "details", "dateCreated", "prevHash", "hash")
        SELECT * FROM unnest(${col.sid}::text[], ${col.accountSid}::text[], ${col.seq}::bigint[], ${col.type}::text[],
                             ${col.serviceSid}::text[], ${col.entitySid}::text[], ${col.factorSid}::text[], ${col.challengeSid}::text[],
                             ${col.actor}::text[], ${col.details}::text[], ${col.dateCreated}::timestamp(3)[], ${col.prevHash}::text[], ${col.hash}::text[])
      )
      UPDATE "AuditChain" AS h SET "seq" = v.seq, "prevHash" = v.prev, "headHash" = v.head, "dateUpdated" = ${at}::timestamp(3)
      FROM (VALUES ${Prisma.join(
        [...state].map(([a, s]) => Prisma.sql`(${a}, ${s.seq}::bigint, ${s.prev}::text, ${s.head}::text)`),
      )}) AS v(account, seq, prev, head)
      WHERE h."accountSid" = v.account`;
  });
}

// ------------------------------------------------------------------ reading for verification

/** The next chain after `after` (accountSid order), from the heads and from the rows — a row whose head was deleted still counts. */
export async function nextAuditChain(prisma: PrismaClient, after: string): Promise<string | null> {
  const rows = await prisma.$queryRaw<{ accountSid: string | null }[]>`
    SELECT LEAST(
      (SELECT min("accountSid") FROM "AuditChain" WHERE "accountSid" > ${after}),
      (SELECT min("accountSid") FROM "AuditEvent" WHERE "accountSid" > ${after})
    ) AS "accountSid"`;
  return rows[0]?.accountSid ?? null;
}

export async function auditChainHead(prisma: PrismaClient, accountSid: string) {
  return prisma.auditChain.findUnique({ where: { accountSid }, select: { seq: true, headHash: true } });
}

/** One batch of a chain's rows in seq order, after `afterSeq` (keyset: constant memory). */
export async function auditRowsAfter(prisma: PrismaClient, accountSid: string, afterSeq: bigint, limit: number): Promise<AuditRow[]> {
  return prisma.auditEvent.findMany({ where: { accountSid, seq: { gt: afterSeq } }, orderBy: { seq: 'asc' }, take: limit });
}
