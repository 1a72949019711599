import { randomBytes } from 'node:crypto';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/client.ts';
import { createLocalEventBus, createRedisEventBus, type EventBus } from './events/index.ts';
import { createJobEngine, type JobEngine } from './jobs/index.ts';
import { startWorkers } from './jobs/handlers.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './observability/metrics.ts';
import type { AppDeps } from './server.ts';
import { loadFingerprintKey, loadKeyring } from './services/keys.ts';
import { createRateLimits } from './rate-limits.ts';

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
  const db = opts.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const jobs: JobEngine = createJobEngine({
    redisUrl: config.redisUrl,
    prefix: opts.redisPrefix ?? config.redisPrefix,
    onError: (err, job) => logger.warn({ err, job }, 'job failed'),
  });
  const onEventError = (err: unknown) => logger.warn({ err }, 'event bus error');
  const events =
    opts.events ??
    (config.redisUrl ? createRedisEventBus(config.redisUrl, opts.redisPrefix ?? config.redisPrefix, onEventError) : createLocalEventBus(onEventError));
  const rateLimits = createRateLimits({ limits: config.limits, redisUrl: config.redisUrl, redisPrefix: opts.redisPrefix ?? config.redisPrefix, logger });
  const deps: AppDeps = {
    config,
    prisma: db.prisma,
    logger,
    now: opts.now ?? (() => new Date()),
    keyring,
    fingerprintKey: await loadFingerprintKey(db.prisma, keyring),
    events,
    jobs,
    rateLimits,
    metrics: createMetrics({ jobs, events, logger }),
    ready: async () => {
      await db.ping();
      await events.ping();
    },
  };
  return {
    deps,
    db,
    redisPrefix: opts.redisPrefix ?? config.redisPrefix,
    startWorkers: () => startWorkers(deps, jobs, { reconcileEveryMs: config.reconcileIntervalMs }),
    close: async () => {
      await jobs.close(); // lets running handlers finish before the database goes
      await events.close();
      await rateLimits.close();
      await db.close();
    },
  };
}

export const randomPrefix = (base = 'verity-test') => `${base}-${randomBytes(4).toString('hex')}`;
