import { describe, expect, it } from 'vitest';
import { Prisma } from '../generated/prisma/client.ts';
import { CHALLENGE_COLUMNS, PREPARED, statementName } from './prepared.ts';

describe('prepared statements', () => {
  it('names marked statements by their text (one name per text) and leaves every other statement unnamed', () => {
    const a = Prisma.sql`${PREPARED} SELECT 1 WHERE ${1} = 1`;
    const b = Prisma.sql`${PREPARED} SELECT 2`;
    expect(statementName({ sql: a.sql })).toMatch(/^verity_[0-9a-f]{24}$/);
    expect(statementName({ sql: a.sql })).toBe(statementName({ sql: a.sql }));
    expect(statementName({ sql: b.sql })).not.toBe(statementName({ sql: a.sql }));
    expect(statementName({ sql: 'SELECT 1' })).toBeUndefined();
  });

  it("lists every Challenge column (RETURNING them keeps a prepared statement's result type fixed)", () => {
    expect(CHALLENGE_COLUMNS.sql.split(', ').map((c) => c.replaceAll('"', ''))).toEqual(Object.keys(Prisma.ChallengeScalarFieldEnum));
  });
});
