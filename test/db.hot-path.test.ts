import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/app.ts';
import { CreateChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { Prisma } from '../src/generated/prisma/client.ts';
import { CHALLENGE_COLUMNS, PREPARED, hotQuery } from '../src/db/prepared.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('the hot path statements sent to pg directly (PostgreSQL) answer exactly what $queryRaw answers', () => {
  it('timestamps (UTC), bigint, bytea, jsonb, enums, text[] and nulls', async () => {
    const a = await t.newAccount('Hot path');
    const f = await verifiedFactor(t, a);
    const { createChallenge: c } = await t.ok(
      CreateChallenge,
      {
        input: {
          factorSid: f.factorSid,
          authPayload: f.code(),
          metadata: { k: 'ü', n: '1' },
          details: { message: 'Login', fields: [{ label: 'IP', value: '1.2.3.4' }] },
        },
      },
      a.auth,
    );
    expect(c.status).toBe('APPROVED');
    const sql = Prisma.sql`${PREPARED}
      SELECT c.*, f."secretCiphertext", f."lastUsedTimeStep", f."throttledUntil", ARRAY[c."sid", NULL]::text[] AS "arr", count(*) OVER () AS "n",
        ${new Date('2026-11-30T07:00:00.123Z')}::timestamp(3) AS "param"
      FROM (SELECT ${CHALLENGE_COLUMNS} FROM "Challenge" WHERE "sid" = ${c.sid}) c
      JOIN "Factor" f ON f."sid" = c."factorSid"`;
    const viaPrisma = await t.db.prisma.$queryRaw<Record<string, unknown>[]>(sql);
    const direct = await hotQuery<Record<string, unknown>>(t.db.prisma, sql);
    expect(viaPrisma).toHaveLength(1);
    expect(direct).toEqual(viaPrisma);
    const row = direct[0]!;
    expect(row.secretCiphertext).toBeInstanceOf(Uint8Array);
    expect(typeof row.lastUsedTimeStep).toBe('bigint');
    expect((row.dateCreated as Date).toISOString()).toBe(c.dateCreated);
    expect((row.param as Date).toISOString()).toBe('2026-11-30T07:00:00.123Z'); // a Date parameter goes as UTC, whatever the process's TZ
  });
});
