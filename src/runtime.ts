import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/client.ts';
import { createAuditLog } from './db/audit-store.ts';
import { createSeedCache } from './services/seed-cache.ts';
import { createLocalEventBus, createRedisEventBus, type EventBus } from './events/index.ts';
import { createJobEngine, type JobEngine } from './jobs/index.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { createAuthCaches, type AppDeps } from './deps.ts';
import { checkReadiness } from './edge/readiness.ts';
import { throttledWarn } from './observability/log-throttle.ts';
import { loadFingerprintKey, loadKeyring } from './infra/keys.ts';
import { createRateLimits } from './edge/rate-limits.ts';

/** Everything a process (API or worker) opens from its config, and how to close it again. */
export interface Runtime {
  deps: AppDeps;
  db: Database;
  /** The Redis namespace this process uses for jobs and events. */
  redisPrefix: string;
  /** Start job workers in this process (embedded mode always; `npm run worker` in production). */
  startWorkers(): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  now?: () => Date;
  logger?: Logger;
  /** An already opened database (tests clone a migrated one). */
  db?: Database;
  /** Key prefix for BullMQ and Redis channels: tests isolate parallel runs with it. */
  redisPrefix?: string;
  events?: EventBus;
}

export async function openRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const keyring = loadKeyring(config); // before the database: a missing key fails fast
  const redisWarn = throttledWarn(logger);
  const timeouts = { connectTimeoutMs: config.dbConnectTimeoutMs, statementTimeoutMs: config.dbStatementTimeoutMs };
  const db =
    opts.db ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      timeouts,
      preparedStatements: config.dbPreparedStatements,
    }));
  const now = opts.now ?? (() => new Date());
  const jobs: JobEngine = createJobEngine({
    redisUrl: config.redisUrl,
    redisCluster: config.redisCluster,
    now, // runAt is on the app's clock, as every time-dependent rule
    prefix: opts.redisPrefix ?? config.redisPrefix,
    // A failed job is logged every time; the engine's connection errors (no job) once per 10 s.
    onError: (err, job) => (job ? logger.warn({ err, job }, 'job failed') : redisWarn('jobs', { err }, 'job engine: Redis error')),
    timeoutMs: config.redisCommandTimeoutMs,
  });
  const onEventError = (err: unknown) => redisWarn('events', { err }, 'event bus error');
  const events =
    opts.events ??
    (config.redisUrl
      ? createRedisEventBus({ url: config.redisUrl, cluster: config.redisCluster }, opts.redisPrefix ?? config.redisPrefix, onEventError, {
          commandTimeoutMs: config.redisCommandTimeoutMs,
        })
      : createLocalEventBus(onEventError));
  const rateLimits = createRateLimits({
    limits: config.limits,
    redisUrl: config.redisUrl,
    redisCluster: config.redisCluster,
    redisPrefix: opts.redisPrefix ?? config.redisPrefix,
    logger,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  });
  const deps: AppDeps = {
    config,
    prisma: db.prisma,
    logger,
    now,
    keyring,
    fingerprintKey: await loadFingerprintKey(db.prisma, keyring),
    auditLog: createAuditLog(db.prisma, (err, accountSid) => logger.error({ err, accountSid }, 'audit seal failed')),
    events,
    jobs,
    rateLimits,
    authCaches: createAuthCaches(),
    seedCache: createSeedCache(config.seedCache),
    metrics: createMetrics({ jobs, events, logger }),
    ready: () =>
      checkReadiness({
        database: { ping: db.ping, timeoutMs: config.dbConnectTimeoutMs },
        ...(config.redisUrl ? { redis: { ping: events.ping, timeoutMs: config.redisCommandTimeoutMs } } : {}),
      }),
  };
  return {
    deps,
    db,
    redisPrefix: opts.redisPrefix ?? config.redisPrefix,
    // The job handlers (webhook delivery and the rest) load only in a process that runs them:
    // an API beside `npm run worker` never does.
    startWorkers: async () =>
      (await import('./jobs/handlers.ts')).startWorkers(deps, jobs, { reconcileEveryMs: config.reconcileIntervalMs }),
    close: async () => {
      await jobs.close(); // lets running handlers finish before the database goes
      await events.close();
      await rateLimits.close();
      await deps.auditLog.drain(); // seals in flight finish (what they miss stays in the inbox, sealed later)
      await db.close();
    },
  };
}
