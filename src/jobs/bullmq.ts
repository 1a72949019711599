import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { openRedis, type RedisClient } from '../redis.ts';
import { watchRedis, watchdogTiming } from '../events/redis-watchdog.ts';
import { tracing } from '../observability/tracing.ts';
import type { EnqueueOptions, JobData, JobEngine, JobErrorListener, JobHandler, JobMeta } from './types.ts';

export interface BullJobEngineOptions {
  redisUrl: string;
  /** `redisUrl` lists Redis Cluster seed nodes. */
  redisCluster?: boolean;
  /** BullMQ key prefix (keys are `${prefix}:${queueName}:…`; on a cluster `{${prefix}}:${queueName}:…`). */
  prefix?: string;
  queueName?: string;
  /** Producer calls (enqueue, repeat, pendingCount) reject after this long instead of waiting for Redis. */
  timeoutMs?: number;
  onError?: JobErrorListener;
  /** The clock `runAt` is read on (the app's deps.now; default the wall clock). */
  now?: () => Date;
}

// ioredis's disconnect() arms a 2 s timer that only a socket 'close' clears; a socket that never
// connected has already closed, so during an outage that timer alone would hold the process open.
const connOpts = { disconnectTimeout: 200 };

// BullMQ joins keys with ':' and rejects custom job ids containing it (STACK-NOTES §7).
const safeId = (id: string) => id.replaceAll(':', '-');

/**
 * Production back end: one queue, jobs told apart by name. The producer connection fails fast
 * (BullMQ's going-to-production guide): callers catch and rely on reconciliation, so an API request
 * must never hang on an outage. Workers, on the other hand, wait outages out.
 */
export function createBullJobEngine(opts: BullJobEngineOptions): JobEngine {
  const { redisUrl, queueName = 'verity-jobs', timeoutMs = 2_000 } = opts;
  const target = { url: redisUrl, cluster: opts.redisCluster };
  // BullMQ's Lua scripts touch several keys of a queue at once, which a cluster allows only within
  // one slot: a hash tag puts them all in the slot of `prefix` (BullMQ's "Redis Cluster" pattern).
  // A single Redis keeps the plain prefix, so an existing deployment's queue stays where it is.
  const prefix = opts.redisCluster ? `{${opts.prefix ?? 'verity'}}` : (opts.prefix ?? 'verity');
  const listener = opts.onError ?? defaultOnError;
  const now = opts.now ?? (() => new Date());
  const onError: JobErrorListener = (err, job) => {
    try {
      listener(err, job);
    } catch {
      // A listener's own failure must not take the job engine down with it.
    }
  };
  const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));
  const telemetry = tracing()?.bullmq;

  // enableOfflineQueue: false makes commands reject at once while disconnected instead of queueing.
  const producerConn = openRedis(target, { ...connOpts, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // Errors reach onError through the Queue/Worker 'error' events; these listeners only keep ioredis
  // from printing "Unhandled error event" once BullMQ has detached during close().
  producerConn.on('error', () => {});
  let queue: Queue;
  try {
    queue = new Queue(queueName, {
      connection: producerConn,
      prefix,
      // With tracing on, the enqueuing request's trace context rides in the job (no payload change).
      telemetry,
      defaultJobOptions: {
        removeOnComplete: true,
        // Kept for inspection; their ids stay taken (dedup) until trimmed.
        removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
      },
    });
  } catch (err) {
    producerConn.disconnect();
    throw err;
  }
  // Without a listener BullMQ's re-emitted connection errors would throw.
  queue.on('error', (err) => onError(err));
  // A silent link never resets: reconnect it, or `unanswered` below would refuse calls for good.
  const stopWatchdog = watchRedis(producerConn, {
    ...watchdogTiming(timeoutMs),
    onSilent: (err) => onError(new Error(`jobs: silent Redis link, reconnecting: ${err.message}`)),
  });

  let workerConn: RedisClient | undefined;
  let stopWorkerWatchdog = () => {};
  let worker: Worker | undefined;
  let closing: Promise<void> | undefined;
  const running = new Set<Promise<void>>(); // our handlers, so close() can wait for them itself
  const unrecorded = new Set<string>(); // ids of started jobs whose outcome BullMQ has not yet written
  let onRecorded = () => {};

  // The offline queue being off still leaves one hang: BullMQ waits for the first 'ready' forever
  // when Redis is down at start-up. The timer bounds that; the abandoned call may still land once
  // Redis is back, which jobIds make harmless.
  //
  // Once the link is known to be bad, calls fail at once rather than each costing a request the
  // whole timeout: when a connection that was ready is lost (refused, reset: ioredis reconnects),
  // or while an earlier call that timed out is still unanswered (a silent, black-holed link).
  let everReady = false;
  producerConn.on('ready', () => (everReady = true));
  let unanswered = 0;
  const bounded = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    if (closing) throw new Error('job engine is closed');
    if (everReady && producerConn.status !== 'ready')
      throw new Error(`jobs: ${what} refused: Redis connection lost (${producerConn.status})`);
    if (unanswered > 0) throw new Error(`jobs: ${what} refused: Redis has not answered ${unanswered} earlier call(s)`);
    const p = call();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        unanswered++;
        reject(new Error(`jobs: ${what} timed out after ${timeoutMs} ms (Redis unreachable?)`));
      }, timeoutMs);
    });
    // A late settlement after the timeout has nobody left to hear it, but it shows the link answers again.
    p.catch(() => {}).finally(() => void (timedOut && unanswered--));
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  };

  // A scheduler lives only in Redis: if Redis loses its keys (restart without persistence, FLUSHALL),
  // the repeating job would silently stop until some process calls repeat() again. So each process
  // that registered one checks every period and re-creates it if it went missing.
  const schedules = new Map<string, { everyMs: number; data: JobData }>();
  let healer: NodeJS.Timeout | undefined;
  let healing = false;
  const upsert = (name: string, everyMs: number, data: JobData) =>
    bounded('repeat', () => queue.upsertJobScheduler(safeId(name), { every: everyMs }, { name, data }));
  const heal = async () => {
    if (healing || closing) return;
    healing = true;
    try {
      for (const [name, { everyMs, data }] of schedules) {
        if (!(await bounded('repeat check', () => queue.getJobScheduler(safeId(name))))) await upsert(name, everyMs, data);
      }
    } catch {
      // Redis unreachable: the connection errors are reported already; try again next period.
    } finally {
      healing = false;
    }
  };

  // Enqueues issued in the same turn of the event loop (the answers to concurrent requests) go to
  // Redis as one pipeline (BullMQ's addBulk): one write and one reply read for all of them instead
  // of one each. Each caller still learns its own batch's outcome; \`bounded\` refuses a batch
  // flushed after close() or while Redis is lost, as it refuses a single add.
  type Queued = { job: { name: string; data: JobData; opts: JobsOptions }; resolve: () => void; reject: (err: unknown) => void };
  let batch: Queued[] = [];
  const inFlight = new Set<Promise<void>>();
  const flush = () => {
    const jobs = batch;
    batch = [];
    if (jobs.length === 0) return;
    const sent = bounded('enqueue', () => queue.addBulk(jobs.map((q) => q.job))).then(
      () => jobs.forEach((q) => q.resolve()),
      (err: unknown) => jobs.forEach((q) => q.reject(err)),
    );
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent));
  };

  const meta = (job: Job): JobMeta => ({
    jobId: job.id ?? '',
    attempt: job.attemptsMade + 1, // attemptsMade counts finished (failed) attempts
    name: job.name,
  });

  return {
    kind: 'bullmq',

    async enqueue(name: string, data: JobData, o: EnqueueOptions = {}): Promise<void> {
      const opts: JobsOptions = {
        jobId: o.jobId === undefined ? undefined : safeId(o.jobId),
        delay: o.runAt ? Math.max(0, o.runAt.getTime() - now().getTime()) : 0,
        attempts: Math.max(1, o.attempts ?? 1),
        backoff: o.backoffMs ? { type: 'exponential', delay: o.backoffMs } : undefined,
      };
      // With tracing on, each job carries its own request's trace context, which a shared batch cannot.
      if (telemetry) return void (await bounded('enqueue', () => queue.add(name, data, opts)));
      return new Promise<void>((resolve, reject) => {
        if (batch.length === 0) setImmediate(flush);
        batch.push({ job: { name, data, opts }, resolve, reject });
      });
    },

    async repeat(name: string, everyMs: number, data: JobData = {}): Promise<void> {
      await upsert(name, everyMs, data);
      schedules.set(name, { everyMs, data });
      clearInterval(healer);
      // unref: checking alone is no reason to keep a process alive.
      healer = setInterval(() => void heal(), Math.min(...[...schedules.values()].map((s) => s.everyMs))).unref();
    },

    async startWorkers(handlers: Record<string, JobHandler>, o: { concurrency?: number } = {}): Promise<void> {
      if (closing) throw new Error('job engine is closed');
      if (worker) throw new Error('workers already started');
      // maxRetriesPerRequest: null is mandatory for a Worker's connection (BullMQ throws otherwise);
      // the offline queue stays on so a worker rides out outages.
      const conn = openRedis(target, { ...connOpts, maxRetriesPerRequest: null }).on('error', () => {});
      try {
        worker = new Worker(
          queueName,
          async (job: Job) => {
            const m = meta(job);
            unrecorded.add(m.jobId);
            try {
              const handler = handlers[job.name];
              if (!handler) throw new Error(`no handler for job "${job.name}"`);
              const run = handler(job.data as JobData, m);
              running.add(run);
              await run.finally(() => running.delete(run));
            } catch (err) {
              onError(asError(err), m);
              throw err; // BullMQ decides between retry (with backoff) and failed
            }
          },
          { connection: conn, prefix, concurrency: Math.max(1, o.concurrency ?? 1), telemetry },
        );
      } catch (err) {
        conn.disconnect(); // a throwing Worker constructor would otherwise leak it and hold the process open
        throw err;
      }
      workerConn = conn;
      // BullMQ watches its own blocking connection; this one (fetch, record outcomes) we watch.
      stopWorkerWatchdog = watchRedis(conn, {
        ...watchdogTiming(timeoutMs),
        onSilent: (err) => onError(new Error(`jobs: silent Redis link (worker), reconnecting: ${err.message}`)),
      });
      worker.on('error', (err) => onError(err));
      // Emitted once the outcome (done, retry or failed) is written to Redis.
      const recorded = (job?: Job) => {
        if (job?.id) unrecorded.delete(job.id);
        onRecorded();
      };
      worker.on('completed', recorded).on('failed', recorded);
    },

    boardQueues: () => [queue],

    async pendingCount(): Promise<number> {
      return bounded('pendingCount', () => queue.getJobCountByTypes('waiting', 'delayed', 'prioritized'));
    },

    async counts() {
      const c = await bounded('counts', () => queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'));
      return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), delayed: c.delayed ?? 0, active: c.active ?? 0, failed: c.failed ?? 0 };
    },

    close(): Promise<void> {
      if (!closing) flush(); // what was enqueued before close() still goes out
      closing ??= (async () => {
        await Promise.allSettled([...inFlight]);
        clearInterval(healer);
        stopWatchdog();
        stopWorkerWatchdog();
        if (worker) {
          // BullMQ's graceful close() waits on Redis (and on ioredis 'end' events that a client caught
          // between reconnects never emits, redis/ioredis#1247), so an outage during shutdown wedges it
          // for good. Drain ourselves instead, then force-close: stop fetching, let running handlers
          // finish, give BullMQ a bounded moment to record their outcomes (a job whose outcome is lost
          // stalls and runs again elsewhere; handlers are idempotent), then drop the connections.
          await settlesWithin(worker.pause(true), 1_000);
          while (running.size) await Promise.allSettled([...running]);
          const allRecorded = new Promise<void>((resolve) => {
            onRecorded = () => void (unrecorded.size || resolve());
            onRecorded();
          });
          await settlesWithin(allRecorded, workerConn?.status === 'ready' ? 5_000 : 0);
          await settlesWithin(worker.close(true), 5_000);
        }
        await settlesWithin(queue.close(), 5_000);
        // BullMQ never closes connections it was handed; we created them, we end them.
        await Promise.all([producerConn, workerConn].flatMap((c) => (c ? [quit(c)] : [])));
        // A job fetched just as we paused may have started meanwhile: still wait for it.
        while (running.size) await Promise.allSettled([...running]);
      })();
      return closing;
    },
  };
}

/** True when p settled (either way) within ms. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = p.then(
    () => true,
    () => true,
  );
  const result = await Promise.race([settled, new Promise<false>((r) => (timer = setTimeout(r, ms, false)))]);
  clearTimeout(timer);
  return result;
}

/** QUIT (lets replies in flight arrive), but never wait on a dead server: drop the socket instead. */
async function quit(conn: RedisClient): Promise<void> {
  if (conn.status === 'ready') await settlesWithin(conn.quit(), 1_000);
  conn.disconnect();
}

function defaultOnError(err: Error, job?: JobMeta): void {
  console.error(job ? `job ${job.name} ${job.jobId} attempt ${job.attempt} failed:` : 'job engine error:', err);
}
