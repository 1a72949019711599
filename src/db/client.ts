import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { DEFAULT_PG_TIMEOUTS } from '../config.ts';
import { pgPoolConfig, type PgTimeouts } from './pg-pool.ts';
import pg from 'pg';
import { registerDirectPool, statementName } from './prepared.ts';
import { ownerOnly, restrictUmask } from '../infra/private-files.ts';
import { migrationNames } from './migration-files.ts';

// The migration engine (a WASM module), PGlite and its adapter are imported when used: the
// PostgreSQL API process needs none of them once started (bench/RESULTS.md "Memory"). The engine
// is started only when a migration is pending: compiling and running its 5 MB WASM module costs
// an idle API ≈ 14 MB of RSS for good, and most starts have nothing to apply
// (docs/decisions/persistence.md).
const migrations = () => import('./schema-engine-wasm.ts');

export type { PrismaClient };

export interface Database {
  prisma: PrismaClient;
  mode: 'embedded' | 'postgres';
  /** Throws when the database does not answer (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL URL; unset → embedded PGlite. */
  databaseUrl?: string | undefined;
  /** Embedded data directory; unset → in-memory (tests). Ignored with `pglite`. */
  dataDir?: string | undefined;
  /** An already opened PGlite (tests load a migrated snapshot). */
  pglite?: PGlite;
  /** Apply pending migrations first (default true): the same folder serves both modes. */
  migrate?: boolean;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** PostgreSQL: connect and statement deadlines (defaults: config's VERITY_DB_* defaults). */
  timeouts?: Partial<PgTimeouts>;
  /** PostgreSQL: name the hot path's statements (default true); false for a transaction-mode pooler (VERITY_DB_PREPARED_STATEMENTS). */
  preparedStatements?: boolean;
  /** Called for every SQL statement Prisma sends (tests and benchmarks count round trips). */
  onQuery?: (sql: string) => void;
}

/** Thrown when migrations are pending but may not be applied over this connection. */
export class PendingMigrationsError extends Error {
  constructor(readonly pending: string[]) {
    super(
      `${pending.length} migration(s) pending (${pending.join(', ')}). With VERITY_DB_PREPARED_STATEMENTS=false (a transaction-mode pooler) ` +
        'Verity does not migrate at start: run `npm run migrate` with DATABASE_URL pointing at PostgreSQL directly (or a session-mode pool).',
    );
    this.name = 'PendingMigrationsError';
  }
}

type Query = (sql: string) => Promise<{ rows: Record<string, unknown>[] }>;

/**
 * The committed migrations this database has not finished, by name. A failed one (started, never
 * finished) counts as pending, so the engine still reports it; a rolled-back one is re-applied by the engine.
 */
async function pendingMigrations(query: Query): Promise<string[]> {
  const done = new Set<string>();
  const table = await query(`SELECT to_regclass('_prisma_migrations')::text AS t`);
  if (table.rows[0]?.t) {
    const r = await query('SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL');
    for (const row of r.rows) done.add(String(row.name));
  }
  return (await migrationNames()).filter((name) => !done.has(name));
}

async function pendingOverPg(config: pg.PoolConfig): Promise<string[]> {
  const c = new pg.Client(config);
  await c.connect();
  try {
    return await pendingMigrations((sql) => c.query(sql));
  } finally {
    await c.end();
  }
}

function client(factory: SqlDriverAdapterFactory, onQuery?: (sql: string) => void): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter: factory });
  const prisma = new PrismaClient({ adapter: factory, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query', (e) => onQuery(e.query));
  return prisma;
}

/** Where PGlite keeps its files inside an embedded data directory (`VERITY_DATA_DIR`). */
export const pgdataDir = (dataDir: string) => join(dataDir, 'pgdata');

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  if (opts.databaseUrl) {
    const timeouts = { ...DEFAULT_PG_TIMEOUTS, ...opts.timeouts };
    const named = opts.preparedStatements !== false;
    // Migrations get no statement deadline: building an index on a big table may take a while.
    if (opts.migrate !== false) {
      const config = pgPoolConfig(opts.databaseUrl, 2, { ...timeouts, statementTimeoutMs: 0 });
      const pending = await pendingOverPg(config);
      // Behind a transaction-mode pooler the migration engine's session advisory lock
      // (pg_advisory_lock) is taken on one server connection and released on another, so it leaks
      // and blocks the next deploy: there, a pending migration stops the start instead.
      if (pending.length && !named) throw new PendingMigrationsError(pending);
      if (pending.length) await (await migrations()).applyMigrations(new PrismaPg(config));
    }
    // One pool for Prisma and for the hot path's marked statements, which go to pg directly, named
    // (prepared) unless turned off — src/db/prepared.ts. Idle-connection errors are expected in outages: handled, not fatal.
    const pool = new pg.Pool(pgPoolConfig(opts.databaseUrl, opts.poolSize ?? 10, timeouts));
    pool.on('error', () => {});
    const prisma = client(new PrismaPg(pool, named ? { statementNameGenerator: statementName } : {}), opts.onQuery);
    registerDirectPool(prisma, pool, { named, onQuery: opts.onQuery });
    return {
      prisma,
      mode: 'postgres',
      ping: async () => void (await prisma.$queryRaw`SELECT 1`),
      close: async () => {
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }
  let pglite = opts.pglite;
  // The data directory is the owner's alone (src/infra/private-files.ts): fixed before PGlite opens
  // it, and again once it has written its start-up files (and, on close, its last ones) with the
  // modes its WASM file system chooses.
  const dataDir = pglite ? undefined : opts.dataDir;
  if (dataDir) {
    restrictUmask();
    ownerOnly(dataDir);
  }
  pglite ??= await (await import('@electric-sql/pglite')).PGlite.create(dataDir ? pgdataDir(dataDir) : undefined);
  const factory = new (await import('pglite-prisma-adapter')).PrismaPGlite(pglite);
  const db = pglite;
  if (opts.migrate !== false && (await pendingMigrations((sql) => db.query(sql))).length)
    await (await migrations()).applyMigrations(factory);
  if (dataDir) ownerOnly(dataDir);
  const prisma = client(factory, opts.onQuery);
  return {
    prisma,
    mode: 'embedded',
    ping: async () => void (await db.query('SELECT 1')),
    close: async () => {
      await prisma.$disconnect();
      // PGlite must be closed cleanly or recent writes can be lost.
      if (!db.closed) await db.close();
      if (dataDir) ownerOnly(dataDir);
    },
  };
}
