// Where a bench or soak run keeps its data, and how it cleans up: a database of its own (or an
// embedded data dir), a Redis prefix of its own, fresh keys, and the environment for Verity's
// child processes. Shared by bench/run.ts and bench/soak.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';

export interface RunEnvironment {
  serverUrl: string;
  redisUrl: string;
  dbName: string;
  dataDir?: string;
  databaseUrl?: string;
  redisPrefix: string;
  keys: string;
  /** Environment for Verity's child processes (API, worker). */
  baseEnv: Record<string, string>;
  adminQuery(sql: string): Promise<void>;
  /** Drops the database, the Redis keys under the prefix and the data dir. */
  removeData(log: (s: string) => void): Promise<void>;
}

export function runEnvironment(
  kind: 'bench' | 'soak',
  runId: string,
  embedded: boolean,
  extraEnv: Record<string, string> = {},
): RunEnvironment {
  const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const dbName = `verity_${kind}_${runId}`;
  const dataDir = embedded ? mkdtempSync(join(tmpdir(), `verity-${kind}-`)) : undefined;
  const databaseUrl = embedded
    ? undefined
    : (() => {
        const u = new URL(serverUrl);
        u.pathname = `/${dbName}`;
        return u.toString();
      })();
  const redisPrefix = `verity-${kind}-${runId}`;
  const keys = `${kind}:${randomBytes(32).toString('base64')}`;
  const baseEnv: Record<string, string> = {
    VERITY_ENCRYPTION_KEYS: keys,
    LOG_LEVEL: 'warn',
    // One bench account drives thousands of requests a second: the per-account rate limit (docs/security.md
    // "Rate limits") would measure the limiter, not Verity. Abuse limits stay on (they cost what they cost).
    VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '0',
    ...extraEnv,
    ...(embedded ? { VERITY_DATA_DIR: dataDir! } : { DATABASE_URL: databaseUrl!, REDIS_URL: redisUrl, VERITY_REDIS_PREFIX: redisPrefix }),
  };
  async function adminQuery(sql: string) {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  }
  async function removeData(log: (s: string) => void) {
    if (databaseUrl) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e) => log(`drop database: ${e}`));
    if (!embedded) {
      const redis = new Redis(redisUrl);
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${redisPrefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (found.length) await redis.del(...found);
      } while (cursor !== '0');
      redis.disconnect();
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  return { serverUrl, redisUrl, dbName, dataDir, databaseUrl, redisPrefix, keys, baseEnv, adminQuery, removeData };
}

/**
 * Ctrl-C runs `cleanup` once (data and children removed), a second Ctrl-C exits at once. Returns
 * whether an interrupt has come, for loops that should stop early.
 */
export function cleanUpOnInterrupt(cleanup: () => Promise<void>, log: (s: string) => void): () => boolean {
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('\ninterrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  });
  return () => interrupted;
}
