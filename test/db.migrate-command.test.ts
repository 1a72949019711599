import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runEntry } from './support/process.ts';

// `npm run migrate`, the production migration step, as an operator runs it.
const url = process.env.DATABASE_URL;
const dataDir = mkdtempSync(join(tmpdir(), 'verity-migrate-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('npm run migrate', () => {
  it.runIf(url)('applies every migration to an empty PostgreSQL database, then reports nothing pending', { timeout: 120_000 }, async () => {
    const name = `verity_migrate_${randomBytes(4).toString('hex')}`;
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
    try {
      const target = new URL(url!);
      target.pathname = `/${name}`;
      const first = runEntry('scripts/migrate.ts', { DATABASE_URL: target.toString() });
      expect(await first.exited).toBe(0);
      expect(first.output()).toMatch(/applied \d+ migration\(s\)[\s\S]*_init/);
      const second = runEntry('scripts/migrate.ts', { DATABASE_URL: target.toString() });
      expect(await second.exited).toBe(0);
      expect(second.output()).toMatch(/no pending migrations/);
    } finally {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    }
  });

  it.skipIf(!!url)('applies to the embedded data dir', { timeout: 120_000 }, async () => {
    const p = runEntry('scripts/migrate.ts', { VERITY_DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/applied \d+ migration\(s\) to PGlite/);
  });
});
