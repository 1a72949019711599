import { Prisma } from '../generated/prisma/client.ts';
import type { PrismaClient } from './client.ts';
import { PREPARED, hotQuery } from './prepared.ts';
import {
  AUDIT_FORMAT,
  GENESIS_HASH,
  auditContentHash,
  auditLinkHash,
  type AuditCheckpoint,
  type AuditContent,
  type AuditRow,
} from '../domain/audit.ts';
import type { AuditEvent } from '../generated/prisma/client.ts';

// The audit trail's persistence: appends to the per-account hash chains (src/domain/audit.ts has
// the format), the group commit that batches one account's concurrent appends, and the reads
// (listing, verification). Two concurrent appends to one chain must never link to the same
// predecessor: each append advances the chain head row under its row lock and inserts the event
// in the same statement (or transaction).

/** The link hash computed in SQL: the same text as auditLinkHash (ASCII only, so UTF8 = ASCII). */
const linkSql = (seq: Prisma.Sql, prev: Prisma.Sql, contentHash: string | Prisma.Sql) =>
  Prisma.sql`encode(sha256(convert_to(${AUDIT_FORMAT + '|'} || (${seq})::text || '|' || ${prev} || '|' || (${contentHash})::text, 'UTF8')), 'hex')`;

/**
 * One event, one statement, one round trip: an upsert of the chain head (created at seq 1 from the
 * genesis value, else locked and advanced: seq + 1, prevHash = old head, headHash = new link hash)
 * feeds the INSERT. ON CONFLICT DO UPDATE locks the head row and applies to its latest committed
 * version, so concurrent appends queue on that row and each gets the next seq — held for one
 * statement only, which keeps the login path cheap.
 */
export async function appendAuditEvent(prisma: PrismaClient, c: AuditContent): Promise<{ seq: bigint; hash: string }> {
  const ch = auditContentHash(c);
  const rows = await hotQuery<{ seq: bigint; hash: string }>(
    prisma,
    Prisma.sql`${PREPARED}
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
    RETURNING "seq", "hash"`,
  );
  return rows[0]!;
}

/**
 * Many events of ONE account (group commit's batches), one statement, one round trip: the head
 * row is locked (FOR UPDATE, which in READ COMMITTED waits for a concurrent append and returns its
 * committed head), a recursive CTE links the events in order from that head with the same SQL
 * expression as appendAuditEvent, the head is advanced to the last link and the rows inserted.
 * Returns false, having written nothing, when the account has no chain head yet: the caller then
 * takes appendAuditEvents' transaction, which creates it.
 */
export async function appendAccountAuditEvents(prisma: PrismaClient, accountSid: string, events: AuditContent[]): Promise<boolean> {
  if (events.length === 0) return true;
  if (events.some((e) => e.accountSid !== accountSid)) throw new Error('appendAccountAuditEvents: events of another account');
  const col = <T>(f: (e: AuditContent) => T) => events.map(f);
  // timestamp(3) without time zone ignores the ISO string's "Z": the stored value is the UTC instant, as Prisma stores Dates.
  const rows = await hotQuery<{ n: bigint }>(
    prisma,
    Prisma.sql`${PREPARED}
    WITH RECURSIVE input AS (
      SELECT * FROM unnest(${col((e) => e.sid)}::text[], ${col((e) => e.type)}::text[], ${col((e) => e.serviceSid)}::text[],
                           ${col((e) => e.entitySid)}::text[], ${col((e) => e.factorSid)}::text[], ${col((e) => e.challengeSid)}::text[],
                           ${col((e) => e.actor)}::text[], ${col((e) => e.details)}::text[], ${col((e) => e.dateCreated.toISOString())}::text[],
                           ${col((e) => auditContentHash(e))}::text[])
        WITH ORDINALITY AS i("sid", "type", "serviceSid", "entitySid", "factorSid", "challengeSid", "actor", "details", "dateCreated", "contentHash", n)
    ), locked AS (
      SELECT "seq", "headHash" FROM "AuditChain" WHERE "accountSid" = ${accountSid} FOR UPDATE
    ), chain(n, seq, prev, hash) AS (
      SELECT 0::bigint, locked."seq", NULL::text, locked."headHash" FROM locked
      UNION ALL
      SELECT c.n + 1, c.seq + 1, c.hash, ${linkSql(Prisma.sql`c.seq + 1`, Prisma.sql`c.hash`, Prisma.sql`i."contentHash"`)}
      FROM chain c JOIN input i ON i.n = c.n + 1
    ), head AS (
      UPDATE "AuditChain" AS h SET "seq" = l.seq, "prevHash" = l.prev, "headHash" = l.hash,
        "dateUpdated" = ${events.at(-1)!.dateCreated}::timestamp(3)
      FROM chain l WHERE l.n = ${events.length} AND h."accountSid" = ${accountSid}
      RETURNING h."seq"
    ), ins AS (
      INSERT INTO "AuditEvent" ("sid", "accountSid", "seq", "type", "serviceSid", "entitySid", "factorSid", "challengeSid",
                                "actor", "details", "dateCreated", "prevHash", "hash")
      SELECT i."sid", ${accountSid}, c.seq, i."type", i."serviceSid", i."entitySid", i."factorSid", i."challengeSid",
             i."actor", i."details", i."dateCreated"::timestamp(3), c.prev, c.hash
      FROM chain c JOIN input i ON i.n = c.n
      WHERE EXISTS (SELECT 1 FROM head)
      RETURNING 1
    )
    SELECT count(*) AS n FROM ins`,
  );
  const n = Number(rows[0]?.n ?? 0);
  if (n === events.length) return true;
  if (n === 0) return false;
  throw new Error(`audit batch append wrote ${n} of ${events.length} rows`); // cannot happen: one statement is atomic
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
      sid: new Array<string>(n),
      accountSid: new Array<string>(n),
      seq: new Array<string>(n),
      type: new Array<string>(n),
      serviceSid: new Array<string | null>(n),
      entitySid: new Array<string | null>(n),
      factorSid: new Array<string | null>(n),
      challengeSid: new Array<string | null>(n),
      actor: new Array<string>(n),
      details: new Array<string | null>(n),
      dateCreated: new Array<string>(n),
      prevHash: new Array<string>(n),
      hash: new Array<string>(n),
    };
    events.forEach((e, i) => {
      const s = state.get(e.accountSid)!;
      const seq = s.seq + 1n;
      const hash = auditLinkHash(seq, s.head, auditContentHash(e));
      col.sid[i] = e.sid;
      col.accountSid[i] = e.accountSid;
      col.seq[i] = String(seq);
      col.type[i] = e.type;
      col.serviceSid[i] = e.serviceSid;
      col.entitySid[i] = e.entitySid;
      col.factorSid[i] = e.factorSid;
      col.challengeSid[i] = e.challengeSid;
      col.actor[i] = e.actor;
      col.details[i] = e.details;
      col.dateCreated[i] = e.dateCreated.toISOString();
      col.prevHash[i] = s.head;
      col.hash[i] = hash;
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

// ------------------------------------------------------------------ the inbox, and sealing it

// Appends go in two steps. (1) The event is inserted into "AuditInbox" by the statement that makes
// the change it records (the login statement, challenge-store openAndAttempt) or by recordAudit:
// a plain INSERT, which locks nothing another append waits for, so the change and its event commit
// together and one account's concurrent logins never queue on its chain head. (2) A seal moves an
// account's inbox rows, in id order, into its chain in ONE statement (the head row locked for
// that statement only): the group commit. Every seal of one account is serialised by the head's
// row lock and takes the rows it can see, so the chain never forks, whatever process seals.

/** The inbox row of one event: its content and content hash (auditContentHash), computed by whoever made it. */
export const inboxColumns = Prisma.raw(
  `"sid", "accountSid", "type", "serviceSid", "entitySid", "factorSid", "challengeSid", "actor", "details", "dateCreated", "contentHash"`,
);

/** Many events (any accounts) into the inbox: one statement, 11 arrays through unnest(). */
export async function insertAuditInbox(prisma: PrismaClient, events: AuditContent[]): Promise<void> {
  if (events.length === 0) return;
  const col = <T>(f: (e: AuditContent) => T) => events.map(f);
  // timestamp(3) without time zone ignores the ISO string's "Z": the stored value is the UTC instant, as Prisma stores Dates.
  await hotQuery(
    prisma,
    Prisma.sql`${PREPARED}
    INSERT INTO "AuditInbox" (${inboxColumns})
    SELECT * FROM unnest(${col((e) => e.sid)}::text[], ${col((e) => e.accountSid)}::text[], ${col((e) => e.type)}::text[],
                         ${col((e) => e.serviceSid)}::text[], ${col((e) => e.entitySid)}::text[], ${col((e) => e.factorSid)}::text[],
                         ${col((e) => e.challengeSid)}::text[], ${col((e) => e.actor)}::text[], ${col((e) => e.details)}::text[],
                         ${col((e) => e.dateCreated.toISOString())}::timestamp(3)[], ${col((e) => auditContentHash(e))}::text[])`,
  );
}

const SEAL_MAX = 5000;

/**
 * Seals up to SEAL_MAX of the account's inbox rows into its chain, one statement: the head row is
 * locked first (FOR UPDATE: in READ COMMITTED it waits for a concurrent seal and returns its
 * committed head), the rows are deleted from the inbox (SKIP LOCKED: a concurrent sealer's rows
 * are its own) only if the head exists, a recursive CTE links them in id order with the same SQL
 * expression as appendAuditEvent, the head advances to the last link and the rows are inserted.
 * Returns how many rows it took, or null — having written nothing — when the account has no head yet.
 */
async function sealOnce(prisma: PrismaClient, accountSid: string): Promise<number | null> {
  const rows = await hotQuery<{ head: boolean; taken: bigint; sealed: bigint }>(
    prisma,
    Prisma.sql`${PREPARED}
    WITH RECURSIVE locked AS (
      SELECT "seq", "headHash" FROM "AuditChain" WHERE "accountSid" = ${accountSid} FOR UPDATE
    ), taken AS (
      DELETE FROM "AuditInbox" WHERE "accountSid" = ${accountSid} AND "id" IN (
        SELECT "id" FROM "AuditInbox" WHERE "accountSid" = ${accountSid} ORDER BY "id" LIMIT ${SEAL_MAX} FOR UPDATE SKIP LOCKED
      ) AND EXISTS (SELECT 1 FROM locked)
      RETURNING *
    ), input AS (
      SELECT t.*, row_number() OVER (ORDER BY t."id") AS n FROM taken t
    ), chain(n, seq, prev, hash) AS (
      SELECT 0::bigint, locked."seq", NULL::text, locked."headHash" FROM locked
      UNION ALL
      SELECT c.n + 1, c.seq + 1, c.hash, ${linkSql(Prisma.sql`c.seq + 1`, Prisma.sql`c.hash`, Prisma.sql`i."contentHash"`)}
      FROM chain c JOIN input i ON i.n = c.n + 1
    ), head AS (
      UPDATE "AuditChain" AS h SET "seq" = l.seq, "prevHash" = l.prev, "headHash" = l.hash,
        "dateUpdated" = (SELECT max("dateCreated") FROM input)
      FROM chain l WHERE l.n > 0 AND l.n = (SELECT count(*) FROM input) AND h."accountSid" = ${accountSid}
      RETURNING h."seq"
    ), ins AS (
      INSERT INTO "AuditEvent" ("sid", "accountSid", "seq", "type", "serviceSid", "entitySid", "factorSid", "challengeSid",
                                "actor", "details", "dateCreated", "prevHash", "hash")
      SELECT i."sid", i."accountSid", c.seq, i."type", i."serviceSid", i."entitySid", i."factorSid", i."challengeSid",
             i."actor", i."details", i."dateCreated", c.prev, c.hash
      FROM chain c JOIN input i ON i.n = c.n
      WHERE EXISTS (SELECT 1 FROM head)
      RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM locked) AS head, (SELECT count(*) FROM input) AS taken, (SELECT count(*) FROM ins) AS sealed`,
  );
  const r = rows[0]!;
  if (!r.head) return null;
  if (r.taken !== r.sealed) throw new Error(`audit seal linked ${r.sealed} of ${r.taken} rows`); // cannot happen: one statement is atomic
  return Number(r.taken);
}

/** Seals all of the account's inbox rows visible now; creates the chain head (seq 0, genesis) first when missing. */
export async function sealAuditInbox(prisma: PrismaClient, accountSid: string): Promise<void> {
  for (;;) {
    const n = await sealOnce(prisma, accountSid);
    if (n === null) {
      await prisma.$executeRaw`
        INSERT INTO "AuditChain" ("accountSid", "seq", "prevHash", "headHash", "dateUpdated")
        VALUES (${accountSid}, 0, ${GENESIS_HASH}, ${GENESIS_HASH}, now()::timestamp(3))
        ON CONFLICT ("accountSid") DO NOTHING`;
      continue;
    }
    if (n < SEAL_MAX) return;
  }
}

/** Accounts with events still in the inbox (left by a process that stopped before sealing them). */
export async function accountsWithUnsealedAudit(prisma: PrismaClient): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ accountSid: string }[]>`SELECT DISTINCT "accountSid" FROM "AuditInbox" ORDER BY 1`;
  return rows.map((r) => r.accountSid);
}

// ------------------------------------------------------------------ group commit

// Group commit, per account and process: while one seal of an account is in flight, every
// request to seal it waits for the next one, which starts after the current one ends and so sees
// every row committed before the request: N concurrent appends cost one statement each for the
// inbox (no lock held across them) plus about one seal in all.

/** The process's audit appends to one database, sealed per account (held on deps as `auditLog`). */
export interface AuditLog {
  /** Inserts into the inbox and returns once the event is in its chain. */
  append(content: AuditContent): Promise<void>;
  /** Many events (any accounts): one inbox statement, then each account sealed. */
  appendMany(contents: AuditContent[]): Promise<void>;
  /** Seals the account soon, for an event already committed to the inbox (a failure is reported to onError, never thrown). */
  kick(accountSid: string): void;
  /** Seals the account now (its readers call this first, so they see every committed event). */
  flush(accountSid: string): Promise<void>;
  /** Waits for the seals in flight (before the database closes). */
  drain(): Promise<void>;
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export function createAuditLog(prisma: PrismaClient, onError: (err: unknown, accountSid: string) => void = () => {}): AuditLog {
  const byAccount = new Map<string, { next: Waiter[]; done: Promise<void> }>();
  const flush = (accountSid: string) =>
    new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const running = byAccount.get(accountSid);
      if (running) return void running.next.push(waiter);
      const state = { next: [waiter], done: Promise.resolve() };
      byAccount.set(accountSid, state);
      state.done = (async () => {
        while (state.next.length > 0) {
          const group = state.next;
          state.next = [];
          try {
            await sealAuditInbox(prisma, accountSid);
            for (const w of group) w.resolve();
          } catch (err) {
            for (const w of group) w.reject(err instanceof Error ? err : new Error('audit seal failed', { cause: err }));
          }
        }
        byAccount.delete(accountSid);
      })();
    });
  return {
    flush,
    append: async (content) => {
      await insertAuditInbox(prisma, [content]);
      await flush(content.accountSid);
    },
    appendMany: async (contents) => {
      await insertAuditInbox(prisma, contents);
      for (const a of [...new Set(contents.map((c) => c.accountSid))].sort()) await flush(a);
    },
    kick: (accountSid) => void flush(accountSid).catch((err: unknown) => onError(err, accountSid)),
    drain: async () => {
      while (byAccount.size > 0) await Promise.allSettled([...byAccount.values()].map((s) => s.done));
    },
  };
}

// ------------------------------------------------------------------ listing

export async function findAuditEventRow(prisma: PrismaClient, accountSid: string, sid: string): Promise<AuditEvent | null> {
  return prisma.auditEvent.findFirst({ where: { sid, accountSid } });
}

/** The seq of an event of this account (a page cursor's position), or null. */
export async function auditSeqOf(prisma: PrismaClient, accountSid: string, sid: string): Promise<bigint | null> {
  const row = await prisma.auditEvent.findFirst({ where: { sid, accountSid }, select: { seq: true } });
  return row?.seq ?? null;
}

/** One page of an account's events in seq order (the chain's order), after `afterSeq` when given; `take` + 1 rows tell whether more follow. */
export async function auditEventPage(
  prisma: PrismaClient,
  filter: { accountSid: string; type?: string; serviceSid?: string },
  p: { dir: 'asc' | 'desc'; afterSeq?: bigint; take: number },
): Promise<{ rows: AuditEvent[]; totalCount: () => Promise<number> }> {
  const where = filter;
  const rows = await prisma.auditEvent.findMany({
    where: p.afterSeq === undefined ? where : { ...where, seq: p.dir === 'desc' ? { lt: p.afterSeq } : { gt: p.afterSeq } },
    orderBy: { seq: p.dir },
    take: p.take,
  });
  return { rows, totalCount: () => prisma.auditEvent.count({ where }) };
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

/** The chain's retention checkpoints (src/db/retention-store.ts writes them), oldest first. */
export async function auditCheckpoints(prisma: PrismaClient, accountSid: string): Promise<AuditCheckpoint[]> {
  return prisma.auditCheckpoint.findMany({ where: { accountSid }, orderBy: { seq: 'asc' } });
}
