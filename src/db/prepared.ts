import { createHash } from 'node:crypto';
import pg from 'pg';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import { DatabaseConnectionError } from './unavailable.ts';

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
export const CHALLENGE_COLUMNS = Prisma.raw(
  Object.values(Prisma.ChallengeScalarFieldEnum)
    .map((c) => `"${c}"`)
    .join(', '),
);

// ------------------------------------------------------------------ the hot statements without Prisma

// On PostgreSQL the marked statements also skip Prisma's client: its query interpreter and result
// conversion cost ≈ 110 µs of CPU per statement over pg's own (bench/RESULTS.md "Session 3"), on
// each of a login's three statements. They run on the pool PrismaPg uses (same connections, same
// deadlines), converted to exactly what $queryRaw returns. PGlite, and a transaction client, keep
// $queryRaw: only a client registered here by openDatabase takes the direct path.
// `named: false` (VERITY_DB_PREPARED_STATEMENTS=false) sends them unnamed: parsed and planned on
// every execution, but valid on whichever server connection a transaction-mode pooler lends.
interface DirectPool {
  pool: pg.Pool;
  named: boolean;
  onQuery?: ((sql: string) => void) | undefined;
}
const direct = new WeakMap<object, DirectPool>();

export function registerDirectPool(
  prisma: object,
  pool: pg.Pool,
  opts: { named: boolean; onQuery?: ((sql: string) => void) | undefined },
): void {
  direct.set(prisma, { pool, ...opts });
}

/** timestamp (without time zone) is stored UTC, as Prisma writes and reads it; int8 is a bigint, as $queryRaw returns it. */
const TIMESTAMP = 1114;
const INT8 = 20;
const BYTEA = 17;
const bytea = pg.types.getTypeParser(BYTEA, 'text') as (s: string) => Buffer;
// One parser per type for the process: pg asks for a column's parser on every result.
const own = new Map<number, (s: string) => unknown>([
  [TIMESTAMP, (s: string) => new Date(`${s.replace(' ', 'T')}Z`)],
  [INT8, (s: string) => BigInt(s)],
  [BYTEA, (s: string) => new Uint8Array(bytea(s))], // $queryRaw's Bytes are plain Uint8Arrays
]);
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    own.get(oid) ?? pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Parameters as Prisma's adapter sends them: a Date as its UTC wall time (pg would send local time). */
const param = (v: unknown): unknown => (v instanceof Date ? v.toISOString() : Array.isArray(v) ? v.map(param) : v);

/** A marked statement's rows: pg directly (named, prepared, unless turned off) where registered, else $queryRaw. */
export async function hotQuery<T>(prisma: PrismaClient, sql: Prisma.Sql): Promise<T[]> {
  const d = direct.get(prisma);
  if (!d) return prisma.$queryRaw<T[]>(sql);
  d.onQuery?.(sql.text);
  try {
    const name = d.named ? statementName({ sql: sql.text }) : undefined;
    const r = await d.pool.query({ name, text: sql.text, values: sql.values.map(param), types });
    return r.rows as T[];
  } catch (err) {
    // Socket-level failures (Node errno + syscall) are outages (503), as the adapter would report them.
    const e = err as Error & { code?: unknown; syscall?: unknown };
    if (typeof e.code === 'string' && typeof e.syscall === 'string' && /^E[A-Z]+$/.test(e.code))
      throw new DatabaseConnectionError(e as Error & { code: string });
    throw err;
  }
}
