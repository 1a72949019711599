import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Prisma } from '../src/generated/prisma/client.ts';
import { openDatabase, PendingMigrationsError, type Database } from '../src/db/client.ts';
import { hotQuery, PREPARED } from '../src/db/prepared.ts';
import { freshDatabase, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, VerifyChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';

// Production PostgreSQL often sits behind PgBouncer in transaction mode, which lends a server
// connection per transaction: a statement named (prepared) on one connection is missing on the next
// (PgBouncer before 1.21). VERITY_DB_PREPARED_STATEMENTS=false sends the hot path unnamed. These
// tests run the login path through a real PgBouncer (scripts/pgbouncer.sh, started by .ci/run) and
// show that the named statements do break there, so the setting is what makes the difference.

const PG = !!inject('pgTemplateUrl');
const root = new URL('../', import.meta.url).pathname;

/** The pooler's base URL: from .ci/run, else started here (the script is idempotent). */
function pgbouncerUrl(): string {
  const url = process.env.VERITY_TEST_PGBOUNCER_URL;
  if (url) return url;
  return execFileSync('bash', [`${root}scripts/pgbouncer.sh`, 'start'], { encoding: 'utf8' }).trim();
}

const HOT_SELECT = Prisma.sql`${PREPARED} SELECT 1 AS one`;

/**
 * Runs one marked statement, then pins the only server connection PgBouncer has opened for this
 * database in another client's transaction, then runs the statement again: the second run must get
 * a different server connection, where a name prepared by the first does not exist.
 */
async function hotStatementAcrossServerConnections(db: Database, url: string): Promise<void> {
  await hotQuery(db.prisma, HOT_SELECT);
  const pin = new pg.Client({ connectionString: url });
  await pin.connect();
  try {
    await pin.query('BEGIN');
    await pin.query('SELECT 1');
    await hotQuery(db.prisma, HOT_SELECT);
  } finally {
    await pin.query('ROLLBACK').catch(() => {});
    await pin.end();
  }
}

describe.skipIf(!PG)('through PgBouncer in transaction mode (skipped in embedded mode: there is no server to pool)', () => {
  let base: string;
  beforeAll(() => {
    base = pgbouncerUrl();
  });

  describe('with VERITY_DB_PREPARED_STATEMENTS=false', () => {
    let t: TestApp;
    let a: Tenant;
    beforeAll(async () => {
      t = await startTestApp({ VERITY_DB_PREPARED_STATEMENTS: 'false' }, { via: base, preparedStatements: false });
      a = await t.newAccount();
    });
    afterAll(() => t?.close());

    it('the app really talks to the pooler', () => {
      expect(t.config.dbPreparedStatements).toBe(false);
      expect(new URL((t.db as { url?: string }).url!).port).toBe(new URL(base).port);
    });

    it('48 logins, 16 at a time (create a challenge, answer it), are all approved; none fails on a missing prepared statement', async () => {
      const first = await verifiedFactor(t, a);
      const factors = [first];
      for (let i = 1; i < 16; i++) factors.push(await verifiedFactor(t, a, { serviceSid: first.serviceSid }));
      for (let round = 0; round < 3; round++) {
        t.clock.advance(30_000); // a factor accepts one code per time step (RFC 6238 §5.2)
        const results = await Promise.all(
          factors.map(async (f) => {
            const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
            return (await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth)).verifyChallenge.status;
          }),
        );
        expect(results).toEqual(factors.map(() => 'APPROVED'));
      }
    });

    it('the same code sent 20 times at once is approved exactly once (RFC 6238 §5.2)', async () => {
      const f = await verifiedFactor(t, a);
      const code = f.code();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => t.gql(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)),
      );
      // The losers are wrong codes to the factor's throttle: PENDING, or refused once it arms.
      for (const r of results) if (r.errors) expect(r.errors[0]!.extensions?.code).toBe('TOO_MANY_ATTEMPTS');
      expect(results.filter((r) => r.data?.createChallenge.status === 'APPROVED')).toHaveLength(1);
    });

    it('a replayed code and a wrong code stay PENDING; the next step’s code approves', async () => {
      const f = await verifiedFactor(t, a);
      const code = f.code();
      expect((await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)).createChallenge.status).toBe(
        'APPROVED',
      );
      const replay = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)).createChallenge;
      expect(replay.status).toBe('PENDING');
      t.clock.advance(30_000);
      const right = f.code();
      const wrong = right === '000000' ? '111111' : '000000';
      expect(
        (await t.ok(VerifyChallenge, { input: { challengeSid: replay.sid, authPayload: wrong } }, a.auth)).verifyChallenge.status,
      ).toBe('PENDING');
      expect(
        (await t.ok(VerifyChallenge, { input: { challengeSid: replay.sid, authPayload: right } }, a.auth)).verifyChallenge.status,
      ).toBe('APPROVED');
    });

    it('the hot statement runs on whichever server connection the pooler lends', async () => {
      const db = await freshDatabase({ via: base, preparedStatements: false });
      try {
        await hotStatementAcrossServerConnections(db, db.url!);
      } finally {
        await db.close();
      }
    });
  });

  it('negative control: named statements through transaction pooling fail with "prepared statement … does not exist"', async () => {
    const db = await freshDatabase({ via: base, preparedStatements: true });
    // One client connection, so the name pg remembers as prepared is the one PgBouncer lost.
    const one = await openDatabase({ databaseUrl: db.url!, migrate: false, poolSize: 1, preparedStatements: true });
    try {
      await expect(hotStatementAcrossServerConnections(one, db.url!)).rejects.toThrow(
        /prepared statement "verity_[0-9a-f]+" does not exist/,
      );
    } finally {
      await one.close();
      await db.close();
    }
  });

  it('behind the pooler a start with pending migrations refuses (the engine’s session advisory lock would leak) instead of migrating', async () => {
    const name = `verity_t_empty_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = `${base.replace(/\/$/, '')}/${name}`;
      const err = await openDatabase({ databaseUrl: url, preparedStatements: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PendingMigrationsError);
      expect((err as Error).message).toMatch(/npm run migrate/);
      // Nothing was applied, and no advisory lock was taken.
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = $1`,
        [name],
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
