import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase, type PrismaClient } from '../src/db/client.ts';
import { appendAuditEvent, appendAuditEvents } from '../src/db/audit-store.ts';
import { canonicalJson, type AuditContent } from '../src/domain/audit.ts';
import { newSid } from '../src/domain/sid.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';
import { ensureFirstAccount } from '../src/services/accounts.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { CreateChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { runEntry } from './support/process.ts';

// Tampering as an attacker with database write access would do it (triggers disabled first), and
// the verification — in-process and as `npm run audit:verify`, a real process — naming the row.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

let clock = Date.parse('2026-11-30T10:00:00.000Z');
const content = (accountSid: string, i: number): AuditContent => ({
  sid: newSid('auditEvent'),
  accountSid,
  type: 'challenge.failed',
  serviceSid: newSid('service'),
  entitySid: null,
  factorSid: newSid('factor'),
  challengeSid: newSid('challenge'),
  actor: 'account',
  details: canonicalJson({ identity: 'user-0001', reason: 'wrong_code', i }),
  dateCreated: new Date((clock += 7)),
});

/** A fresh chain of `n` events (half single appends, half one batch). */
async function chain(prisma: PrismaClient, n: number) {
  const accountSid = newSid('account');
  const singles = Math.floor(n / 2);
  for (let i = 0; i < singles; i++) await appendAuditEvent(prisma, content(accountSid, i));
  await appendAuditEvents(
    prisma,
    Array.from({ length: n - singles }, (_, i) => content(accountSid, 100 + i)),
  );
  return accountSid;
}

const row = (prisma: PrismaClient, accountSid: string, seq: number) =>
  prisma.auditEvent.findFirstOrThrow({ where: { accountSid, seq: BigInt(seq) } });

/** Runs SQL the append-only triggers would refuse, as someone with the table owner's rights. */
async function asAttacker(prisma: PrismaClient, fn: () => Promise<unknown>) {
  await prisma.$executeRawUnsafe('ALTER TABLE "AuditEvent" DISABLE TRIGGER USER');
  try {
    await fn();
  } finally {
    await prisma.$executeRawUnsafe('ALTER TABLE "AuditEvent" ENABLE TRIGGER USER');
  }
}

const sha = async (prisma: PrismaClient, text: string) =>
  (await prisma.$queryRaw<{ h: string }[]>`SELECT encode(sha256(convert_to(${text}, 'UTF8')), 'hex') AS h`)[0]!.h;

/** Each case tampers with its own fresh chain, checks the verdict, then removes that chain. */
const cases: { name: string; kind: string; seq: number; tamper: (p: PrismaClient, a: string) => Promise<unknown>; reason: RegExp }[] = [
  {
    name: 'changed details',
    kind: 'content',
    seq: 4,
    reason: /was changed/,
    tamper: (p, a) =>
      p.$executeRaw`UPDATE "AuditEvent" SET "details" = '{"identity":"someone-else"}' WHERE "accountSid" = ${a} AND "seq" = 4`,
  },
  {
    name: 'changed type',
    kind: 'content',
    seq: 2,
    reason: /was changed/,
    tamper: (p, a) => p.$executeRaw`UPDATE "AuditEvent" SET "type" = 'challenge.approved' WHERE "accountSid" = ${a} AND "seq" = 2`,
  },
  {
    name: 'changed time',
    kind: 'content',
    seq: 6,
    reason: /was changed/,
    tamper: (p, a) =>
      p.$executeRaw`UPDATE "AuditEvent" SET "dateCreated" = "dateCreated" - interval '1 hour' WHERE "accountSid" = ${a} AND "seq" = 6`,
  },
  {
    name: 'deleted row in the middle',
    kind: 'gap',
    seq: 4,
    reason: /seq 3 is missing/,
    tamper: (p, a) => p.$executeRaw`DELETE FROM "AuditEvent" WHERE "accountSid" = ${a} AND "seq" = 3`,
  },
  {
    name: 're-hashed row (its successor no longer links)',
    kind: 'link',
    seq: 4,
    reason: /hash of seq 3/,
    tamper: async (p, a) => {
      // The attacker recomputes seq 3's hash correctly for its new content (the format is public).
      const { auditRowHash } = await import('../src/domain/audit.ts');
      const r = await row(p, a, 3);
      const forged = { ...r, type: 'challenge.approved' };
      await p.$executeRaw`UPDATE "AuditEvent" SET "type" = ${forged.type}, "hash" = ${auditRowHash(forged)} WHERE "sid" = ${r.sid}`;
    },
  },
  {
    name: 'truncated tail',
    kind: 'head',
    seq: 7,
    reason: /truncated.*seq 8.*seq 6/,
    tamper: (p, a) => p.$executeRaw`DELETE FROM "AuditEvent" WHERE "accountSid" = ${a} AND "seq" > 6`,
  },
  {
    name: 'first row’s prevHash',
    kind: 'link',
    seq: 1,
    reason: /genesis/,
    tamper: async (p, a) =>
      p.$executeRaw`UPDATE "AuditEvent" SET "prevHash" = ${await sha(p, 'x')} WHERE "accountSid" = ${a} AND "seq" = 1`,
  },
];

async function removeChain(prisma: PrismaClient, accountSid: string) {
  await asAttacker(prisma, async () => {
    await prisma.$executeRaw`DELETE FROM "AuditEvent" WHERE "accountSid" = ${accountSid}`;
    await prisma.$executeRaw`DELETE FROM "AuditChain" WHERE "accountSid" = ${accountSid}`;
  });
}

describe('the embedded first-run account', () => {
  it('is recorded as created by the system (this file’s database starts without accounts)', async () => {
    const first = (await ensureFirstAccount(t.deps))!;
    const rows = await t.db.prisma.auditEvent.findMany({ where: { accountSid: first.account.sid } });
    expect(rows.map((r) => [r.seq, r.type, r.actor, r.details])).toEqual([
      [1n, 'account.created', 'system', '{"friendlyName":"First account"}'],
    ]);
    expect(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(first.authToken);
  });
});

describe('verifyAuditTrail (in-process)', () => {
  it('passes a real trail written by the app, in both append paths, and counts it', async () => {
    const a = await t.newAccount();
    const f = await verifiedFactor(t, a);
    for (let i = 0; i < 3; i++) await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: '000000' } }, a.auth);
    await chain(t.db.prisma, 9);
    const events = await t.db.prisma.auditEvent.count();
    const chains = await t.db.prisma.auditChain.count();
    expect(await verifyAuditTrail(t.db.prisma, { batchSize: 4 })).toEqual({ ok: true, events, chains });
  });

  for (const c of cases) {
    it(`catches a ${c.name} and names the row`, async () => {
      const accountSid = await chain(t.db.prisma, 8);
      expect(await verifyAuditTrail(t.db.prisma, { accountSid })).toMatchObject({ ok: true, events: 8 });
      const expectedSid = c.kind === 'head' ? null : (await row(t.db.prisma, accountSid, c.seq)).sid;
      await asAttacker(t.db.prisma, () => c.tamper(t.db.prisma, accountSid));
      const r = await verifyAuditTrail(t.db.prisma, { batchSize: 3 });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.failure).toMatchObject({ accountSid, kind: c.kind, seq: BigInt(c.seq), sid: expectedSid });
        expect(r.failure.reason).toMatch(c.reason);
      }
      await removeChain(t.db.prisma, accountSid);
    });
  }

  it('catches a deleted chain head (rows without their head)', async () => {
    const accountSid = await chain(t.db.prisma, 3);
    await t.db.prisma.$executeRaw`DELETE FROM "AuditChain" WHERE "accountSid" = ${accountSid}`;
    expect(await verifyAuditTrail(t.db.prisma)).toMatchObject({
      ok: false,
      failure: { accountSid, kind: 'head', reason: expect.stringMatching(/head row is missing/) },
    });
    await removeChain(t.db.prisma, accountSid);
    expect(await verifyAuditTrail(t.db.prisma)).toMatchObject({ ok: true });
  });
});

describe('npm run audit:verify (a real process)', () => {
  const url = (t_: TestApp) => (t_.db as { url?: string }).url!;
  const verify = async (env: Record<string, string>) => {
    const p = runEntry('scripts/audit-verify.ts', { VERITY_AUDIT_BATCH: '5', ...env });
    return { code: await p.exited, out: p.output() };
  };

  it.runIf(!!process.env.DATABASE_URL)(
    'on PostgreSQL: OK with counts, then each tampering reported at its row, exit 1',
    { timeout: 300_000 },
    async () => {
      await chain(t.db.prisma, 12);
      const events = await t.db.prisma.auditEvent.count();
      const chains = await t.db.prisma.auditChain.count();
      const ok = await verify({ DATABASE_URL: url(t) });
      expect(ok.out).toContain(`OK: ${events} events in ${chains} chains`);
      expect(ok.code).toBe(0);
      for (const c of cases.filter((x) =>
        ['changed details', 'deleted row in the middle', 're-hashed row (its successor no longer links)', 'truncated tail'].includes(
          x.name,
        ),
      )) {
        const accountSid = await chain(t.db.prisma, 8);
        const sid = c.kind === 'head' ? '-' : (await row(t.db.prisma, accountSid, c.seq)).sid;
        await asAttacker(t.db.prisma, () => c.tamper(t.db.prisma, accountSid));
        const r = await verify({ DATABASE_URL: url(t) });
        expect(r.code, r.out).toBe(1);
        expect(r.out).toContain(`TAMPERED: chain ${accountSid} seq ${c.seq} id ${sid} (${c.kind}): `);
        expect(r.out).toMatch(c.reason);
        await removeChain(t.db.prisma, accountSid);
      }
    },
  );

  it.skipIf(!!process.env.DATABASE_URL)('on the embedded data dir: OK, then a changed row', { timeout: 300_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'verity-audit-'));
    const env = { VERITY_DATA_DIR: dataDir, DATABASE_URL: '' };
    try {
      // The migrated snapshot, unpacked into a real data dir (no initdb, no migration run).
      const pglite = await PGlite.create({
        dataDir: join(dataDir, 'pgdata'),
        loadDataDir: new Blob([await readFile(inject('pgliteSnapshot')!)]),
      });
      let db = await openDatabase({ pglite, migrate: false });
      const first = await chain(db.prisma, 10);
      const second = await chain(db.prisma, 7);
      // PGlite is single-process: close before the script opens the same data dir.
      await db.close();
      const ok = await verify(env);
      expect(ok.out).toContain('OK: 17 events in 2 chains');
      expect(ok.code).toBe(0);

      db = await openDatabase({ dataDir, migrate: false });
      const victim = await row(db.prisma, second, 5);
      await asAttacker(db.prisma, () => db.prisma.$executeRaw`UPDATE "AuditEvent" SET "actor" = 'operator' WHERE "sid" = ${victim.sid}`);
      expect(await verifyAuditTrail(db.prisma, { accountSid: first })).toMatchObject({ ok: true, events: 10 });
      await db.close();
      const changed = await verify(env);
      expect(changed.code).toBe(1);
      expect(changed.out).toContain(`TAMPERED: chain ${second} seq 5 id ${victim.sid} (content)`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
