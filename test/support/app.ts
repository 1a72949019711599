import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { once } from 'node:events';
import { Cluster, type Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig, type Config } from '../../src/config.ts';
import { openDatabase, pgdataDir, type Database } from '../../src/db/client.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { openRedis, type RedisTarget } from '../../src/redis.ts';
import { randomPrefix } from './random-prefix.ts';
import { createApp, type App } from '../../src/server.ts';
import type { AppDeps } from '../../src/deps.ts';
import { createAccount } from '../../src/services/accounts.ts';
import type { Logger } from '../../src/logger.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';
/** A fresh seed-encryption key per test process. */
export const TEST_KEYS = `t1:${randomBytes(32).toString('base64')}`;

export interface FreshDatabaseOptions {
  onQuery?: (sql: string) => void;
  statementTimeoutMs?: number;
  /**
   * PostgreSQL: the app connects through this pooler (e.g. scripts/pgbouncer.sh's
   * postgresql://postgres@127.0.0.1:6432/), to the clone's name; default $VERITY_TEST_DATABASE_VIA
   * (.ci/run runs the login-path suites through PgBouncer with it).
   * The clone itself is made and dropped over DATABASE_URL.
   */
  via?: string | undefined;
  /** Default: false when $VERITY_DB_PREPARED_STATEMENTS is 'false', as the app's setting. */
  preparedStatements?: boolean;
}

/** A fresh, migrated database for one test file: a clone of the template (PostgreSQL) or of the snapshot (PGlite). */
export async function freshDatabase(opts: FreshDatabaseOptions = {}): Promise<Database & { url?: string }> {
  const templateUrl = inject('pgTemplateUrl');
  if (templateUrl) {
    const template = new URL(templateUrl).pathname.slice(1);
    const name = `verity_t_${randomBytes(6).toString('hex')}`;
    const serverUrl = process.env.DATABASE_URL!;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    await admin.end();
    const via = opts.via ?? process.env.VERITY_TEST_DATABASE_VIA;
    const u = new URL(via || templateUrl);
    u.pathname = `/${name}`;
    // Generous pool/statement deadlines: suites queue on purpose (104 enrolments on one entity wait
    // on its row lock) on a loaded 2-core box, where the production 3 s / 5 s would turn queueing
    // into SERVICE_UNAVAILABLE. The deadlines themselves are tested in outage.*.test.ts.
    const db = await openDatabase({
      databaseUrl: u.toString(),
      migrate: false,
      poolSize: 20,
      onQuery: opts.onQuery,
      preparedStatements: opts.preparedStatements ?? process.env.VERITY_DB_PREPARED_STATEMENTS !== 'false',
      timeouts: { connectTimeoutMs: 30_000, statementTimeoutMs: opts.statementTimeoutMs ?? 30_000 },
    });
    return {
      ...db,
      url: u.toString(),
      close: async () => {
        await db.close();
        const c = new pg.Client({ connectionString: serverUrl });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const snapshot = inject('pgliteSnapshot')!;
  const pglite = await PGlite.create({ loadDataDir: new Blob([await readFile(snapshot)]) });
  return openDatabase({ pglite, migrate: false, onQuery: opts.onQuery });
}

/**
 * Embedded mode for a child process (a command, the server): a new `VERITY_DATA_DIR` whose database
 * is loaded from the migrated snapshot, ~1 s where migrating an empty directory takes ~15 s.
 */
export async function freshDataDir(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'verity-data-'));
  const pglite = await PGlite.create(pgdataDir(dataDir), { loadDataDir: new Blob([await readFile(inject('pgliteSnapshot')!)]) });
  await pglite.close();
  return dataDir;
}

/** A controllable clock: tests move time instead of sleeping. */
export class TestClock {
  constructor(public current = new Date()) {}
  now = () => new Date(this.current);
  advance(ms: number) {
    this.current = new Date(this.current.getTime() + ms);
  }
  set(d: Date) {
    this.current = new Date(d);
  }
}

export interface GqlResult<T> {
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  status: number;
}

export interface TestApp {
  app: App;
  deps: AppDeps;
  db: Database;
  clock: TestClock;
  config: Config;
  /** Runs a typed document in-process with the given Authorization header (or none). */
  gql<R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization?: string | null): Promise<GqlResult<R>>;
  /** Like gql, but fails the test on any error and returns data. */
  ok<R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization?: string | null): Promise<R>;
  /** A new tenant: its SID, token and Basic header. */
  newAccount(name?: string): Promise<Tenant>;
  runtime: Runtime;
  close(): Promise<void>;
}

export interface Tenant {
  sid: string;
  token: string;
  auth: string;
}

export const basic = (sid: string, token: string) => `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;

export interface TestAppOptions extends FreshDatabaseOptions {
  onQuery?: (sql: string) => void;
  /** A database opened by the test (e.g. one an operator script wrote to) instead of a fresh copy. */
  db?: Database;
  logger?: Logger;
  /** The app reads the wall clock instead of `clock` (for browsers and other clients that compute codes from real time). */
  realClock?: boolean;
  /** PostgreSQL: this statement_timeout instead of the suites' generous one (tests of the deadline itself). */
  statementTimeoutMs?: number;
}

export async function startTestApp(env: Record<string, string> = {}, opts: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({
    VERITY_ADMIN_TOKEN: ADMIN_TOKEN,
    VERITY_ENCRYPTION_KEYS: TEST_KEYS,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
  });
  const db = opts.db ?? (await freshDatabase(opts));
  const clock = new TestClock();
  const runtime = await openRuntime(config, {
    db,
    now: opts.realClock ? () => new Date() : clock.now,
    redisPrefix: randomPrefix(),
    logger: opts.logger,
  });
  const { deps } = runtime;
  const app = createApp(deps);
  async function gql<R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization?: string | null) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization) headers.authorization = authorization;
    const res = await app.fetch('http://verity.test/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: print(doc), variables }),
    });
    const body = (await res.json()) as GqlResult<R>;
    return { ...body, status: res.status };
  }
  return {
    app,
    deps,
    db,
    clock,
    config,
    gql,
    async ok(doc, variables, authorization) {
      const r = await gql(doc, variables, authorization);
      if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
      return r.data!;
    },
    async newAccount(name = 'Tenant') {
      const { account, authToken } = await createAccount(deps, { kind: 'operator' }, { friendlyName: name });
      return { sid: account.sid, token: authToken, auth: basic(account.sid, authToken) };
    },
    runtime,
    close: async () => {
      await runtime.close();
      if (config.redisUrl) await deleteRedisPrefix({ url: config.redisUrl, cluster: config.redisCluster }, runtime.redisPrefix);
    },
  };
}

/** Removes every Redis key of one test run's prefix (BullMQ queues, schedulers, limits), on every master of a cluster. */
export async function deleteRedisPrefix(redis: string | RedisTarget, prefix: string): Promise<void> {
  const client = openRedis(typeof redis === 'string' ? { url: redis } : redis);
  try {
    const nodes = client instanceof Cluster ? (await readyCluster(client)).nodes('master') : [client as Redis];
    for (const node of nodes) {
      // `{prefix}`: BullMQ's hash-tagged keys on a cluster.
      for (const match of [`${prefix}:*`, `{${prefix}}:*`]) {
        let cursor = '0';
        do {
          const [nextCursor, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
          cursor = nextCursor;
          // One DEL per key: a cluster refuses a multi-key DEL across slots, even on one node.
          if (keys.length) await Promise.all(keys.map((k) => node.del(k)));
        } while (cursor !== '0');
      }
    }
  } finally {
    client.disconnect();
  }
}

/** A cluster client once it knows the slots map (its node list is empty before). */
export async function readyCluster(c: Cluster): Promise<Cluster> {
  if (c.status !== 'ready') await once(c, 'ready');
  return c;
}
