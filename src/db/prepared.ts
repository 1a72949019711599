import { createHash } from 'node:crypto';
import { Prisma } from '../generated/prisma/client.ts';

// Prepared statements for the login hot path (bench/RESULTS.md "Session 3"). PostgreSQL parses and
// plans an unnamed statement on every execution; a named one once per connection (and its plan is
// cached). PrismaPg names a statement when its `statementNameGenerator` returns a name, so the
// few statements that run on every login start with PREPARED and get a name derived from their
// text; every other statement (Prisma's generated ones, whose texts vary with their inputs) stays
// unnamed, so the server keeps a bounded set of prepared statements per connection.

/** Starts a hot statement's SQL: the marker statementName looks for (a comment; PGlite ignores it alike). */
export const PREPARED = Prisma.raw('/* verity:prepared */');
const MARK = '/* verity:prepared */';

const names = new Map<string, string>();

/** A stable name per marked SQL text (its hash: pg refuses one name for two texts), else none (unnamed). */
export function statementName(query: { sql: string }): string {
  if (!query.sql.startsWith(MARK)) return undefined as unknown as string; // pg: no name = unnamed statement
  let name = names.get(query.sql);
  if (!name) {
    name = `verity_${createHash('sha256').update(query.sql).digest('hex').slice(0, 24)}`;
    names.set(query.sql, name);
  }
  return name;
}

/**
 * Challenge's columns, listed instead of `RETURNING *`: a prepared statement's result type is fixed
 * when it is prepared, and PostgreSQL refuses to run it after a migration adds a column ("cached plan
 * must not change result type") — a listed set of columns does not change under a running instance.
 */
export const CHALLENGE_COLUMNS = Prisma.raw(Object.values(Prisma.ChallengeScalarFieldEnum).map((c) => `"${c}"`).join(', '));
