// `tsx bench/expiry-split.ts`: where the bulk expiry time goes — the batched UPDATE alone
// (expireOverdueBatch, 1,000 rows per statement) versus the whole reconciliation (the same UPDATE
// plus one awaited event publish per expired challenge). PostgreSQL + Redis, own database and prefix.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { openRuntime, randomPrefix } from '../src/runtime.ts';
import { expireOverdueBatch } from '../src/db/attempts.ts';
import { reconcileExpiry } from '../src/services/challenges.ts';
import { parseKeyring } from '../src/domain/seed-crypto.ts';
import { loadFingerprintKey } from '../src/services/keys.ts';
import { seed } from './seed.ts';
import { insertPending } from './scenarios/expiry.ts';

const server = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `verity_bench_${randomBytes(4).toString('hex')}`;
const admin = async (sql: string) => {
  const c = new pg.Client({ connectionString: server });
  await c.connect();
  await c.query(sql).finally(() => c.end());
};
await admin(`CREATE DATABASE ${name}`);
const u = new URL(server);
u.pathname = `/${name}`;
const keys = `bench:${randomBytes(32).toString('base64')}`;
const prefix = randomPrefix('verity-bench');
const runtime = await openRuntime(loadConfig({ DATABASE_URL: u.toString(), REDIS_URL: redisUrl, VERITY_ENCRYPTION_KEYS: keys, LOG_LEVEL: 'warn' }), { redisPrefix: prefix });
try {
  const { prisma } = runtime.db;
  const keyring = parseKeyring(keys);
  const seeded = await seed(prisma, keyring, await loadFingerprintKey(prisma, keyring), { factors: 1, readChallenges: 0 });
  const n = 10_000;
  await insertPending(prisma, seeded, n, new Date(Date.now() - 1000));
  let t = performance.now();
  let done = 0;
  while (done < n) done += (await expireOverdueBatch(prisma, new Date(), 1000)).length;
  const updateOnly = performance.now() - t;
  await insertPending(prisma, seeded, n, new Date(Date.now() - 1000));
  t = performance.now();
  const reconciled = await reconcileExpiry(runtime.deps, Number(process.env.BATCH ?? 5000));
  const full = performance.now() - t;
  console.log(JSON.stringify({
    challenges: n,
    updateOnly: { ms: Math.round(updateOnly), perSecond: Math.round((n / updateOnly) * 1000) },
    reconcileWithEvents: { expired: reconciled, ms: Math.round(full), perSecond: Math.round((n / full) * 1000) },
  }));
} finally {
  await runtime.close();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  const { Redis } = await import('ioredis');
  const r = new Redis(redisUrl);
  const found = await r.keys(`${prefix}:*`);
  if (found.length) await r.del(...found);
  r.disconnect();
}
