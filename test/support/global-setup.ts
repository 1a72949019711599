import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { applyMigrations } from '../../src/db/schema-engine-wasm.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Embedded mode: a migrated PGlite data dir (tarball) each test file loads in ~1 s. */
    pgliteSnapshot: string | null;
    /** PostgreSQL mode: a migrated template database each test file clones (CREATE DATABASE … TEMPLATE). */
    pgTemplateUrl: string | null;
  }
}

const root = new URL('../../', import.meta.url).pathname;

function migrationsHash(): string {
  const dir = join(root, 'prisma/migrations');
  const h = createHash('sha256');
  for (const name of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const p = join(dir, name);
    if (name.endsWith('.sql')) h.update(name).update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 16);
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const template = `verity_tpl_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${template}`);
    await admin.end();
    const templateUrl = withDatabase(databaseUrl, template);
    await applyMigrations(new PrismaPg({ connectionString: templateUrl }));
    project.provide('pgTemplateUrl', templateUrl);
    project.provide('pgliteSnapshot', null);
    return async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
      await c.end();
    };
  }
  const cacheDir = join(root, 'node_modules/.cache/verity');
  const snapshot = join(cacheDir, `pglite-${migrationsHash()}.tar`);
  if (!existsSync(snapshot)) {
    mkdirSync(cacheDir, { recursive: true });
    const db = await PGlite.create();
    await applyMigrations(new PrismaPGlite(db));
    const dump = await db.dumpDataDir('none');
    writeFileSync(snapshot, Buffer.from(await dump.arrayBuffer()));
    await db.close();
  }
  project.provide('pgliteSnapshot', snapshot);
  project.provide('pgTemplateUrl', null);
}
