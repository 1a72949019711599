// `tsx bench/expiry-phases.ts`: where one expiry batch's time goes, phase by phase, on
// PostgreSQL + Redis (own database and key prefix). N overdue rows (default 50,000, `N=`),
// batches of `BATCH` (default 5,000): the UPDATE (expireOverdueBatch), the audit append
// (appendAuditEvents, its hashing included; hashJs times that hashing alone), the publishes, and the EXPLAIN
// (ANALYZE, BUFFERS) of the batch UPDATE on a fresh set of rows (rolled back). INDEX=composite
// swaps the partial index of pending rows back for the former (status, expirationDate) one, to compare.
import pg from 'pg';
import { expireOverdueBatch } from '../src/db/challenge-store.ts';
import { appendAuditEvents } from '../src/db/audit-store.ts';
import { auditContentHash, auditLinkHash } from '../src/domain/audit.ts';
import { newSid } from '../src/domain/sid.ts';
import { insertPending } from './scenarios/expiry.ts';
import { withScratchRuntime } from './scratch-runtime.ts';

const n = Number(process.env.N ?? 50_000);
const batch = Number(process.env.BATCH ?? 5000);
const ms = (t: number) => Math.round((performance.now() - t) * 10) / 10;
await withScratchRuntime('phases', async ({ runtime, seeded, databaseUrl }) => {
  const { prisma } = runtime.db;
  const deps = runtime.deps;
  await insertPending(prisma, seeded, n, new Date(Date.now() - 1000));
  if (process.env.INDEX === 'composite') {
    // Compare with the index before 20261130072752_expiry_pending_index: (status, expirationDate) over every row.
    await prisma.$executeRawUnsafe('DROP INDEX "Challenge_pending_expirationDate_idx"');
    await prisma.$executeRawUnsafe('CREATE INDEX "Challenge_status_expirationDate_idx" ON "Challenge" ("status", "expirationDate")');
  }
  await prisma.$executeRawUnsafe('ANALYZE "Challenge"');

  const explain = new pg.Client({ connectionString: databaseUrl });
  await explain.connect();
  try {
    await explain.query('BEGIN');
    const plan = await explain.query(`EXPLAIN (ANALYZE, BUFFERS)
      UPDATE "Challenge" SET "status" = 'expired', "dateUpdated" = now()
      WHERE "sid" IN (SELECT "sid" FROM "Challenge" WHERE "status" = 'pending' AND "expirationDate" <= now()
                      ORDER BY "expirationDate" LIMIT ${batch} FOR UPDATE SKIP LOCKED) AND "status" = 'pending'`);
    console.log(plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'));
  } finally {
    await explain.query('ROLLBACK'); // the EXPLAIN really ran the UPDATE: undo it
    await explain.end();
  }

  const totals = { update: 0, hashJs: 0, auditSql: 0, publish: 0, batches: 0 };
  let done = 0;
  const tAll = performance.now();
  while (done < n) {
    const now = new Date();
    let t = performance.now();
    const rows = await expireOverdueBatch(prisma, now, batch);
    totals.update += ms(t);
    const contents = rows.map((r) => ({
      sid: newSid('auditEvent'),
      accountSid: r.accountSid,
      type: 'challenge.expired',
      serviceSid: r.serviceSid,
      entitySid: r.entitySid,
      factorSid: r.factorSid,
      challengeSid: r.sid,
      actor: 'system',
      details: JSON.stringify({ identity: r.identity }),
      dateCreated: now,
    }));
    t = performance.now();
    let prev = '0'.repeat(64);
    for (let i = 0; i < contents.length; i++) prev = auditLinkHash(BigInt(i + 1), prev, auditContentHash(contents[i]!));
    totals.hashJs += ms(t);
    t = performance.now();
    await appendAuditEvents(prisma, contents).catch((e: unknown) =>
      console.error(`audit append failed: ${(e as Error).message.slice(-200)}`),
    );
    totals.auditSql += ms(t); // includes its own hashing (≈ hashJs)
    t = performance.now();
    await Promise.all(
      rows.map((r) =>
        deps.events.publish({
          type: 'challenge.expired',
          accountSid: r.accountSid,
          serviceSid: r.serviceSid,
          identity: r.identity,
          factorSid: r.factorSid,
          challengeSid: r.sid,
        }),
      ),
    );
    totals.publish += ms(t);
    totals.batches++;
    done += rows.length;
    if (rows.length === 0) break;
  }
  const all = ms(tAll);
  console.log(
    JSON.stringify({
      challenges: done,
      batch,
      totalMs: all,
      perSecond: Math.round((done / all) * 1000),
      phasesMs: totals,
      perBatchMs: Object.fromEntries(
        Object.entries(totals)
          .filter(([k]) => k !== 'batches')
          .map(([k, v]) => [k, Math.round((v / totals.batches) * 10) / 10]),
      ),
    }),
  );
});
