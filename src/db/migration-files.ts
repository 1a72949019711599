// The committed migrations as files (`prisma/migrations/<name>/migration.sql`): what the migration
// engine applies (schema-engine-wasm.ts) and what a process compares with `_prisma_migrations` at
// start to learn whether it needs the engine at all (client.ts).
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { MigrationList } from '@prisma/schema-engine-wasm';

export const defaultMigrationsDir = () => path.resolve('prisma/migrations');

/** The migrations' directory names, in the order they apply. */
export async function migrationNames(migrationsDir = defaultMigrationsDir()): Promise<string[]> {
  const dirs = await readdir(path.resolve(migrationsDir), { withFileTypes: true }).catch(() => []);
  return dirs
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b));
}

/** Reads `<dir>/*\/migration.sql` + `migration_lock.toml` in the shape Prisma's CLI hands the engine. */
export async function loadMigrations(migrationsDir = defaultMigrationsDir()): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const lockPath = 'migration_lock.toml';
  const content = await readFile(path.join(baseDir, lockPath), 'utf8').catch(() => null);
  const migrationDirectories = await Promise.all(
    (await migrationNames(baseDir)).map(async (name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: await readFile(path.join(baseDir, name, 'migration.sql'), 'utf8').then(
          (value) => ({ tag: 'ok' as const, value }),
          (e: Error) => ({ tag: 'error' as const, value: e.message }),
        ),
      },
    })),
  );
  return { baseDir, lockfile: { path: lockPath, content }, shadowDbInitScript: '', migrationDirectories };
}
