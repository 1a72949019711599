import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase, type PrismaClient } from '../src/db/client.ts';
import { deriveCheckpointKey } from '../src/domain/audit.ts';
import { newSid } from '../src/domain/sid.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';
import { expireChallengeJob } from '../src/services/challenge-expiry.ts';
import { purge, type PurgeProgress } from '../src/services/retention.ts';
import { startTestApp, TEST_KEYS, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateWebhook } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { runEntry } from './support/process.ts';

// The retention purge end to end, through the app's own flows: what goes (ended challenges,
// finished deliveries, audit events) and what stays (pending challenges, deliveries still retried,
// factors, entities), the audit chain verifying from its checkpoint afterwards, resuming after an
// interruption, the database refusing uncovered deletes, and a forged checkpoint being caught.

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-10T08:00:00.000Z');
const CUT = new Date(T0 + 50 * DAY);
// The webhook points at a closed local port; no worker runs here, so nothing is ever sent.
const PRIVATE_HOOKS = { VERITY_WEBHOOK_ALLOW_PRIVATE: 'true' };

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp(PRIVATE_HOOKS);
});
afterAll(() => t.close());

const key = async () => deriveCheckpointKey(t.deps.fingerprintKey);
const verify = (prisma: PrismaClient = t.db.prisma) => verifyAuditTrail(prisma, { batchSize: 3, checkpointKey: key });

interface Seeded {
  tenant: Tenant;
  gone: { challenges: string[]; deliveries: string[] };
  kept: { challenges: string[]; deliveries: string[] };
  factorSid: string;
  code: () => string;
}

/** Inserts one delivery row in a given state (the states a real delivery series ends in). */
async function delivery(accountSid: string, serviceSid: string, webhookSid: string, status: 'succeeded' | 'dead' | 'failed', at: Date) {
  const sid = newSid('webhookDelivery');
  await t.db.prisma.webhookDelivery.create({
    data: {
      sid,
      accountSid,
      serviceSid,
      webhookSid,
      eventUuid: crypto.randomUUID(),
      eventType: 'challenge.approved',
      payload: {},
      status,
      nextAttemptAt: status === 'failed' ? at : null,
      dateCreated: at,
      dateUpdated: at,
    },
  });
  return sid;
}

/**
 * A tenant whose history starts at `old` (before the cut) and goes on at `recent` (after it):
 * approved, expired, denied and pending challenges and finished deliveries at `old`; the same
 * again at `recent`. Returns which rows the purge must delete and which it must keep.
 */
async function seedTenant(old: number, recent: number): Promise<Seeded> {
  t.clock.set(new Date(old));
  const tenant = await t.newAccount('Retained');
  const f = await verifiedFactor(t, tenant);
  const webhookSid = (
    await t.ok(
      CreateWebhook,
      { input: { serviceSid: f.serviceSid, friendlyName: 'Hook', webhookUrl: 'http://127.0.0.1:9/hook', eventTypes: ['*'] } },
      tenant.auth,
    )
  ).createWebhook.webhook.sid;
  const challenge = async (payload?: string) =>
    (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, ...(payload ? { authPayload: payload } : {}) } }, tenant.auth))
      .createChallenge;
  const ended = async () => {
    const approved = await challenge(f.code());
    expect(approved.status).toBe('APPROVED');
    t.clock.advance(30_000);
    const expiring = await challenge();
    const denied = await challenge();
    // Verity never denies (Twilio's push factors do); a row imported or written by a client that does is ended all the same.
    await t.db.prisma.challenge.update({ where: { sid: denied.sid }, data: { status: 'denied' } });
    t.clock.advance(10 * 60_000);
    await expireChallengeJob(t.deps, expiring.sid); // the expiry job (reconciliation would also expire the overdue pending one below)
    expect((await t.db.prisma.challenge.findUniqueOrThrow({ where: { sid: expiring.sid } })).status).toBe('expired');
    return [approved.sid, expiring.sid, denied.sid];
  };
  const finished = async (at: number) => [
    await delivery(tenant.sid, f.serviceSid, webhookSid, 'succeeded', new Date(at)),
    await delivery(tenant.sid, f.serviceSid, webhookSid, 'dead', new Date(at)),
  ];
  const oldEnded = await ended();
  // Pending in the database (its expiry never ran): overdue, yet never purged by age.
  const oldPending = (await challenge()).sid;
  const oldDeliveries = await finished(old);
  const retrying = await delivery(tenant.sid, f.serviceSid, webhookSid, 'failed', new Date(old));

  t.clock.set(new Date(recent));
  const recentEnded = await ended();
  const recentDeliveries = await finished(recent);
  await t.deps.auditLog.flush(tenant.sid); // the logins' events are sealed moments after their commit
  return {
    tenant,
    factorSid: f.factorSid,
    code: f.code,
    gone: { challenges: oldEnded, deliveries: oldDeliveries },
    kept: { challenges: [oldPending, ...recentEnded], deliveries: [retrying, ...recentDeliveries] },
  };
}

const sidsIn = async (table: 'challenge' | 'webhookDelivery', sids: string[]) => {
  const args = { where: { sid: { in: sids } }, select: { sid: true } };
  const rows = table === 'challenge' ? await t.db.prisma.challenge.findMany(args) : await t.db.prisma.webhookDelivery.findMany(args);
  return rows.map((r) => r.sid).sort();
};

const auditDates = async (accountSid: string) =>
  (await t.db.prisma.auditEvent.findMany({ where: { accountSid }, orderBy: { seq: 'asc' }, select: { dateCreated: true } })).map((r) =>
    r.dateCreated.getTime(),
  );

async function expectPurged(s: Seeded) {
  expect(await sidsIn('challenge', s.gone.challenges)).toEqual([]);
  expect(await sidsIn('webhookDelivery', s.gone.deliveries)).toEqual([]);
  expect(await sidsIn('challenge', s.kept.challenges)).toEqual([...s.kept.challenges].sort());
  expect(await sidsIn('webhookDelivery', s.kept.deliveries)).toEqual([...s.kept.deliveries].sort());
  const dates = await auditDates(s.tenant.sid);
  expect(dates.length).toBeGreaterThan(0);
  expect(dates.every((d) => d >= CUT.getTime())).toBe(true);
}

describe('purge', () => {
  let a: Seeded;
  let b: Seeded;

  it('deletes ended challenges, finished deliveries and old audit events of every tenant at the same cut; the trail still verifies', async () => {
    a = await seedTenant(T0, T0 + 100 * DAY);
    // The second tenant's history sits just either side of the cut.
    b = await seedTenant(T0 + 40 * DAY, T0 + 60 * DAY);
    const counts = async () => ({
      factors: await t.db.prisma.factor.count(),
      entities: await t.db.prisma.entity.count(),
      services: await t.db.prisma.service.count(),
      accounts: await t.db.prisma.account.count(),
      pendingDeliveries: await t.db.prisma.webhookDelivery.count({ where: { status: 'pending' } }),
    });
    const before = await counts();
    const oldEvents = await t.db.prisma.auditEvent.count({ where: { dateCreated: { lt: CUT } } });
    const newEvents = await t.db.prisma.auditEvent.count({ where: { dateCreated: { gte: CUT } } });
    expect(oldEvents).toBeGreaterThan(5);

    const phases = new Set<string>();
    const r = await purge(t.deps, { before: CUT, batchSize: 2, onProgress: (p) => phases.add(p.phase) });
    expect(r).toMatchObject({ challenges: 6, webhookDeliveries: 4, auditEvents: oldEvents });
    expect(r.checkpoints).toBe(2);
    expect([...phases]).toEqual(['challenges', 'webhookDeliveries', 'auditEvents']);

    await expectPurged(a);
    await expectPurged(b);
    expect(await counts()).toEqual(before);
    expect(await t.db.prisma.auditEvent.count()).toBe(newEvents);
    expect(await verify()).toMatchObject({ ok: true, events: newEvents });

    // Nothing left to do: a second run deletes nothing and writes no checkpoint.
    expect(await purge(t.deps, { before: CUT })).toEqual({ challenges: 0, webhookDeliveries: 0, auditEvents: 0, checkpoints: 0 });
  });

  it('leaves the chains appendable: a login after the purge is sealed onto the checkpoint and verifies', async () => {
    t.clock.set(new Date(T0 + 101 * DAY));
    const approved = await t.ok(CreateChallenge, { input: { factorSid: a.factorSid, authPayload: a.code() } }, a.tenant.auth);
    expect(approved.createChallenge.status).toBe('APPROVED');
    await t.deps.auditLog.flush(a.tenant.sid);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('is resumable: interrupted after a batch (in any phase), run again, it ends where one run ends', async () => {
    const c = await seedTenant(T0 + 10 * DAY, T0 + 70 * DAY);
    const stopAt = (phase: PurgeProgress['phase']) => (p: PurgeProgress) => {
      if (p.phase === phase) throw new Error(`interrupted in ${phase}`);
    };
    await expect(purge(t.deps, { before: CUT, batchSize: 1, onProgress: stopAt('challenges') })).rejects.toThrow(/interrupted/);
    expect((await sidsIn('challenge', c.gone.challenges)).length).toBe(2); // one batch of one committed
    await expect(purge(t.deps, { before: CUT, batchSize: 1, onProgress: stopAt('auditEvents') })).rejects.toThrow(/interrupted/);
    // Half-purged: the checkpoint is written and one covered event deleted; the chain verifies as it is.
    expect(await t.db.prisma.auditCheckpoint.count({ where: { accountSid: c.tenant.sid } })).toBe(1);
    expect(await verify()).toMatchObject({ ok: true });
    const r = await purge(t.deps, { before: CUT, batchSize: 1 });
    expect(r.checkpoints).toBe(0); // the interrupted run's checkpoint is the one used
    await expectPurged(c);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('the database refuses deleting an audit event no checkpoint covers, and changing a checkpoint', async () => {
    const head = await t.db.prisma.auditChain.findUniqueOrThrow({ where: { accountSid: a.tenant.sid } });
    await expect(
      t.db.prisma.$executeRaw`DELETE FROM "AuditEvent" WHERE "accountSid" = ${a.tenant.sid} AND "seq" = ${head.seq}`,
    ).rejects.toThrow(/append-only/);
    await expect(t.db.prisma.$executeRaw`UPDATE "AuditCheckpoint" SET "seq" = "seq" + 1`).rejects.toThrow(/append-only/);
    await expect(t.db.prisma.$executeRaw`DELETE FROM "AuditCheckpoint"`).rejects.toThrow(/append-only/);
  });

  it('catches a forged checkpoint (inserted to excuse deleting events) and a row changed after a checkpoint', async () => {
    const s = await seedTenant(T0 + 80 * DAY, T0 + 90 * DAY);
    const head = await t.db.prisma.auditChain.findUniqueOrThrow({ where: { accountSid: s.tenant.sid } });
    const victim = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { accountSid: s.tenant.sid, seq: head.seq - 2n } });
    // Without the key, an attacker can only guess the MAC; the trigger then lets the deletes through.
    await t.db.prisma.auditCheckpoint.create({
      data: { accountSid: s.tenant.sid, seq: victim.seq, hash: victim.hash, dateCreated: new Date(), mac: 'ab'.repeat(32) },
    });
    await t.db.prisma.$executeRaw`DELETE FROM "AuditEvent" WHERE "accountSid" = ${s.tenant.sid} AND "seq" <= ${victim.seq}`;
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: s.tenant.sid, checkpointKey: key })).toMatchObject({
      ok: false,
      failure: { accountSid: s.tenant.sid, kind: 'checkpoint', seq: victim.seq, reason: expect.stringMatching(/forged or altered/) },
    });

    // A genuine checkpoint, then a row after it changed: reported at that row.
    const other = await seedTenant(T0 + 20 * DAY, T0 + 95 * DAY);
    await purge(t.deps, { before: CUT });
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: other.tenant.sid, checkpointKey: key })).toMatchObject({ ok: true });
    const first = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { accountSid: other.tenant.sid }, orderBy: { seq: 'asc' } });
    await t.db.prisma.$executeRawUnsafe('ALTER TABLE "AuditEvent" DISABLE TRIGGER USER');
    try {
      // The first row after the checkpoint, re-linked to another predecessor: its prevHash no longer names the checkpoint.
      await t.db.prisma.$executeRaw`UPDATE "AuditEvent" SET "prevHash" = ${'f'.repeat(64)} WHERE "sid" = ${first.sid}`;
    } finally {
      await t.db.prisma.$executeRawUnsafe('ALTER TABLE "AuditEvent" ENABLE TRIGGER USER');
    }
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: other.tenant.sid, checkpointKey: key })).toMatchObject({
      ok: false,
      failure: { accountSid: other.tenant.sid, kind: 'link', seq: first.seq, sid: first.sid },
    });
  });
});

describe('npm run purge (a real process)', () => {
  it('purges the database the app uses, prints what it deleted, and the trail verifies', { timeout: 300_000 }, async () => {
    const pgUrl = (t.db as { url?: string }).url;
    const dataDir = pgUrl ? null : mkdtempSync(join(tmpdir(), 'verity-purge-'));
    let app = t;
    try {
      if (dataDir) {
        // Embedded: a real data dir (the migrated snapshot unpacked), written by an app, closed
        // before the command opens it (PGlite is single-process).
        const pglite = await PGlite.create({
          dataDir: join(dataDir, 'pgdata'),
          loadDataDir: new Blob([await readFile(inject('pgliteSnapshot')!)]),
        });
        app = await startTestApp(PRIVATE_HOOKS, { db: await openDatabase({ pglite, migrate: false }) });
      }
      const prev = t;
      t = app; // seedTenant writes through the app in `t`
      let s: Seeded;
      try {
        s = await seedTenant(T0, T0 + 100 * DAY);
      } finally {
        t = prev;
      }
      if (dataDir) await app.close();
      const p = runEntry(
        'scripts/purge.ts',
        { VERITY_ENCRYPTION_KEYS: TEST_KEYS, ...(pgUrl ? { DATABASE_URL: pgUrl } : { DATABASE_URL: '', VERITY_DATA_DIR: dataDir! }) },
        ['--before', CUT.toISOString(), '--batch', '3'],
      );
      const code = await p.exited;
      expect(p.output()).toMatch(/purged before 2026-03-01T08:00:00\.000Z: \d+ ended challenges, \d+ webhook deliveries, \d+ audit events/);
      expect(code, p.output()).toBe(0);
      const db = dataDir ? await openDatabase({ dataDir, migrate: false }) : t.db;
      try {
        expect(await db.prisma.challenge.count({ where: { sid: { in: s.gone.challenges } } })).toBe(0);
        expect(await db.prisma.challenge.count({ where: { sid: { in: s.kept.challenges } } })).toBe(s.kept.challenges.length);
        expect(await db.prisma.auditEvent.count({ where: { accountSid: s.tenant.sid, dateCreated: { lt: CUT } } })).toBe(0);
        const k = dataDir ? deriveCheckpointKey(app.deps.fingerprintKey) : await key();
        expect(await verifyAuditTrail(db.prisma, { accountSid: s.tenant.sid, checkpointKey: async () => k })).toMatchObject({ ok: true });
      } finally {
        if (dataDir) await db.close();
      }
    } finally {
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
