import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { applyMigrations } from './schema-engine-wasm.ts';
import { DEFAULT_PG_TIMEOUTS } from '../config.ts';
import { pgPoolConfig, type PgTimeouts } from './pg-pool.ts';
import pg from 'pg';
import { registerDirectPool, statementName } from './prepared.ts';
import { ownerOnly, restrictUmask } from '../infra/private-files.ts';

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
  /** Called for every SQL statement Prisma sends (tests and benchmarks count round trips). */
  onQuery?: (sql: string) => void;
}

function client(factory: SqlDriverAdapterFactory, onQuery?: (sql: string) => void): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter: factory });
  const prisma = new PrismaClient({ adapter: factory, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query', (e) => onQuery(e.query));
  return prisma;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  if (opts.databaseUrl) {
    const timeouts = { ...DEFAULT_PG_TIMEOUTS, ...opts.timeouts };
    // Migrations get no statement deadline: building an index on a big table may take a while.
    if (opts.migrate !== false)
      await applyMigrations(new PrismaPg(pgPoolConfig(opts.databaseUrl, 2, { ...timeouts, statementTimeoutMs: 0 })));
    // One pool for Prisma and for the hot path's marked statements, which go to pg directly, named
    // (prepared) — src/db/prepared.ts. Idle-connection errors are expected in outages: handled, not fatal.
    const pool = new pg.Pool(pgPoolConfig(opts.databaseUrl, opts.poolSize ?? 10, timeouts));
    pool.on('error', () => {});
    const prisma = client(new PrismaPg(pool, { statementNameGenerator: statementName }), opts.onQuery);
    registerDirectPool(prisma, pool, opts.onQuery);
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
  pglite ??= await PGlite.create(dataDir ? join(dataDir, 'pgdata') : undefined);
  const factory = new PrismaPGlite(pglite);
  if (opts.migrate !== false) await applyMigrations(factory);
  if (dataDir) ownerOnly(dataDir);
  const prisma = client(factory, opts.onQuery);
  const db = pglite;
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
