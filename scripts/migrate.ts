// `npm run migrate`: applies prisma/migrations (like `prisma migrate deploy`) through the WASM schema engine to
// DATABASE_URL (PostgreSQL) or, if unset, to the embedded PGlite at $VERITY_DATA_DIR/pgdata (default .verity).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaPg } from '@prisma/adapter-pg';
import { applyMigrations, type SqlMigrationAwareDriverAdapterFactory } from '../src/db/schema-engine-wasm.ts';

const url = process.env.DATABASE_URL;
let pglite: PGlite | undefined;
let factory: SqlMigrationAwareDriverAdapterFactory;
let target: string;
if (url) {
  const u = new URL(url);
  target = `postgresql://${u.host}${u.pathname}`; // no credentials in the output
  factory = new PrismaPg({ connectionString: url });
} else {
  const dir = path.resolve(process.env.VERITY_DATA_DIR ?? '.verity', 'pgdata');
  await mkdir(dir, { recursive: true });
  const rel = path.relative(process.cwd(), dir);
  target = `PGlite ${rel.startsWith('..') ? dir : rel}`;
  pglite = await PGlite.create(dir);
  factory = new PrismaPGlite(pglite);
}

try {
  const applied = await applyMigrations(factory);
  console.log(
    applied.length
      ? `applied ${applied.length} migration(s) to ${target}:\n${applied.map((n) => `  ${n}`).join('\n')}`
      : `no pending migrations (${target})`,
  );
} catch (e) {
  console.error(`migration failed on ${target}:`, e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await pglite?.close();
}
