// A Verity runtime on a database and Redis prefix of its own, seeded with one factor, for the
// one-off expiry measurements (bench/expiry-split.ts, bench/expiry-phases.ts). The database is
// dropped and the prefix's keys deleted afterwards, whatever happened.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { randomPrefix } from '../test/support/random-prefix.ts';
import { parseKeyring } from '../src/domain/seed-crypto.ts';
import { loadFingerprintKey } from '../src/infra/keys.ts';
import { seed, type Seeded } from './seed.ts';

export const benchServer = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function withScratchRuntime<T>(
  label: string,
  fn: (r: { runtime: Runtime; seeded: Seeded; databaseUrl: string }) => Promise<T>,
): Promise<T> {
  const name = `verity_bench_${label}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: benchServer });
    await c.connect();
    await c.query(sql).finally(() => c.end());
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(benchServer);
  u.pathname = `/${name}`;
  const keys = `bench:${randomBytes(32).toString('base64')}`;
  const prefix = randomPrefix(`verity-bench-${label}`);
  const runtime = await openRuntime(
    loadConfig({ DATABASE_URL: u.toString(), REDIS_URL: redisUrl, VERITY_ENCRYPTION_KEYS: keys, LOG_LEVEL: 'warn' }),
    { redisPrefix: prefix },
  );
  try {
    const { prisma } = runtime.db;
    const keyring = parseKeyring(keys);
    const seeded = await seed(prisma, keyring, await loadFingerprintKey(prisma, keyring), { factors: 1, readChallenges: 0 });
    return await fn({ runtime, seeded, databaseUrl: u.toString() });
  } finally {
    await runtime.close();
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const { Redis } = await import('ioredis');
    const r = new Redis(redisUrl);
    const found = await r.keys(`${prefix}:*`);
    if (found.length) await r.del(...found);
    r.disconnect();
  }
}
