// `npm run migrate:new -- <name>`: writes prisma/migrations/<UTC timestamp>_<name>/migration.sql with the SQL that takes
// the existing migrations to prisma/schema.prisma (replaces `prisma migrate dev --create-only`, whose native engine
// can't be downloaded here). Main and shadow DB are in-memory PGlite: no PostgreSQL needed.
// `npm run migrate:check` (--check): creates nothing; exits 1 if schema.prisma and the migrations disagree.
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { diffMigrations, LOCKFILE } from '../src/db/schema-engine-wasm.ts';

const args = process.argv.slice(2);
const check = args.includes('--check');
// Same charset as Prisma's generated names; the timestamp prefix keeps lexical order = apply order.
const name = args
  .find((a) => !a.startsWith('--'))
  ?.replace(/[^A-Za-z0-9_]+/g, '_')
  .replace(/^_+|_+$/g, '');
if (!check && !name) {
  console.error('usage: npm run migrate:new -- <name>   |   npm run migrate:check');
  process.exit(2);
}

const migrationsDir = path.resolve('prisma/migrations');
const db = await PGlite.create();
let diff: Awaited<ReturnType<typeof diffMigrations>>;
try {
  diff = await diffMigrations(new PrismaPGlite(db), { migrationsDir, schemaPath: path.resolve('prisma/schema.prisma') });
} finally {
  await db.close();
}

if (check) {
  if (diff.changed) {
    console.error('prisma/schema.prisma and prisma/migrations are out of sync. Run `npm run migrate:new -- <name>`.');
    console.error('Missing from the migrations:\n' + diff.sql);
    process.exitCode = 1;
  } else console.log('prisma/schema.prisma and prisma/migrations are in sync');
} else if (!diff.changed) {
  console.log('no changes');
} else {
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14); // YYYYMMDDHHMMSS (UTC), like Prisma
  const dir = path.join(migrationsDir, `${stamp}_${name}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'migration.sql'), diff.sql, { flag: 'wx' });
  const lock = path.join(migrationsDir, 'migration_lock.toml');
  if (
    !(await access(lock).then(
      () => true,
      () => false,
    ))
  )
    await writeFile(lock, LOCKFILE);
  console.log(`created ${path.relative(process.cwd(), dir)}/migration.sql`);
}
