import { Queue, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { EnqueueOptions, JobData, JobEngine, JobErrorListener, JobHandler, JobMeta } from './types.ts';

export interface BullJobEngineOptions {
  redisUrl: string;
  /** BullMQ key prefix (keys are `${prefix}:${queueName}:…`). */
  prefix?: string;
  queueName?: string;
  /** Producer calls (enqueue, repeat, pendingCount) reject after this long instead of waiting for Redis. */
  timeoutMs?: number;
  onError?: JobErrorListener;
}

// ioredis's disconnect() arms a 2 s timer that only a socket 'close' clears; a socket that never
// connected has already closed, so during an outage that timer alone would hold the process open.
const connOpts = { disconnectTimeout: 200 };

/**
 * A Worker never uses the connection it is given: it runs on duplicates it makes and owns. Recording
 * them lets close() end them itself when BullMQ's own close is stuck waiting for a dead Redis.
 */
class TrackedRedis extends Redis {
  readonly copies: Redis[] = [];
  override duplicate(override?: Partial<RedisOptions>): Redis {
    const copy = super.duplicate(override);
    this.copies.push(copy);
    return copy;
  }
}

// BullMQ joins keys with ':' and rejects custom job ids containing it (STACK-NOTES §7).
const safeId = (id: string) => id.replaceAll(':', '-');

/**
 * Production back end: one queue, jobs told apart by name. The producer connection fails fast
 * (going-to-production guide): callers catch and rely on reconciliation, so an API request must
 * never hang on an outage. Workers, on the other hand, wait out outages indefinitely.
 */
export function createBullJobEngine(opts: BullJobEngineOptions): JobEngine {
  const { redisUrl, prefix = 'verity', queueName = 'verity-jobs', timeoutMs = 2_000 } = opts;
  const listener = opts.onError ?? defaultOnError;
  const onError: JobErrorListener = (err, job) => {
    try {
      listener(err, job);
    } catch {}
  };

  // enableOfflineQueue: false makes commands reject at once while disconnected instead of queueing.
  const producerConn = new Redis(redisUrl, { ...connOpts, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  let queue: Queue;
  try {
    queue = new Queue(queueName, {
      connection: producerConn,
      prefix,
      defaultJobOptions: {
        removeOnComplete: true,
        // Kept for inspection; note their ids stay taken (dedup) until trimmed.
        removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
      },
    });
  } catch (err) {
    producerConn.disconnect();
    throw err;
  }
  // Without a listener BullMQ's re-emitted connection errors would throw.
  queue.on('error', (err) => onError(err));

  let workerConn: TrackedRedis | undefined;
  let worker: Worker | undefined;
  const running = new Set<Promise<void>>(); // our handlers, awaited by close() whatever BullMQ manages
  let closing: Promise<void> | undefined;

  // The offline queue being off still leaves one hang: BullMQ waits for the first 'ready' forever
  // when Redis is down at start-up. The timer bounds that; the abandoned call is harmless (jobIds dedup).
  const bounded = <T>(what: string, p: Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new Error('job engine is closed'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`jobs: ${what} timed out after ${timeoutMs} ms (Redis unreachable?)`)), timeoutMs);
    });
    p.catch(() => {}); // a late rejection after the timeout has nobody left to hear it
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  };

  const meta = (job: Job): JobMeta => ({
    jobId: job.id ?? '',
    attempt: job.attemptsMade + 1, // attemptsMade counts finished (failed) attempts
    name: job.name,
  });

  return {
    kind: 'bullmq',

    async enqueue(name: string, data: JobData, o: EnqueueOptions = {}): Promise<void> {
      const attempts = Math.max(1, o.attempts ?? 1);
      await bounded(
        'enqueue',
        queue.add(name, data, {
          jobId: o.jobId === undefined ? undefined : safeId(o.jobId),
          delay: o.runAt ? Math.max(0, o.runAt.getTime() - Date.now()) : 0,
          attempts,
          backoff: o.backoffMs ? { type: 'exponential', delay: o.backoffMs } : undefined,
        }),
      );
    },

    async repeat(name: string, everyMs: number, data: JobData = {}): Promise<void> {
      await bounded('repeat', queue.upsertJobScheduler(safeId(name), { every: everyMs }, { name, data }));
    },

    async startWorkers(handlers: Record<string, JobHandler>, o: { concurrency?: number } = {}): Promise<void> {
      if (closing) throw new Error('job engine is closed');
      if (worker) throw new Error('workers already started');
      // maxRetriesPerRequest: null is mandatory for a Worker's connection (BullMQ throws otherwise);
      // the offline queue stays on so a worker rides out outages.
      const conn = new TrackedRedis(redisUrl, { ...connOpts, maxRetriesPerRequest: null });
      try {
        worker = new Worker(
          queueName,
          async (job: Job) => {
            const m = meta(job);
            try {
              const handler = handlers[job.name];
              if (!handler) throw new Error(`no handler for job "${job.name}"`);
              const run = handler(job.data as JobData, m);
              running.add(run);
              await run.finally(() => running.delete(run));
            } catch (err) {
              onError(err instanceof Error ? err : new Error(String(err)), m);
              throw err; // BullMQ decides between retry (with backoff) and failed
            }
          },
          { connection: conn, prefix, concurrency: Math.max(1, o.concurrency ?? 1) },
        );
      } catch (err) {
        conn.disconnect(); // a throwing Worker constructor would otherwise leak it and hold the process open
        throw err;
      }
      workerConn = conn;
      worker.on('error', (err) => onError(err));
    },

    async pendingCount(): Promise<number> {
      return bounded('pendingCount', queue.getJobCountByTypes('waiting', 'delayed', 'prioritized'));
    },

    close(): Promise<void> {
      closing ??= (async () => {
        if (worker && workerConn) {
          // Worker first. With Redis up, close() stops fetching, waits for active jobs and records their
          // outcome, so nothing is left to stall. With Redis down it would wait for a reconnect that may
          // never come, so force it; outcomes can't be recorded then anyway (the jobs stall and rerun).
          const conns = [workerConn, ...workerConn.copies];
          const closed = conns.every((c) => c.status === 'ready') ? worker.close() : worker.close(true);
          closed.catch((err: unknown) => onError(err instanceof Error ? err : new Error(String(err))));
          await Promise.allSettled([...running]);
          // Redis dying mid-close can still wedge the graceful path: bound it, then drop every socket.
          if (!(await settlesWithin(closed, 5_000))) {
            for (const c of conns) endNow(c);
            await settlesWithin(closed, 1_000);
          }
        }
        await settlesWithin(queue.close(), 5_000);
        // BullMQ never closes connections it was handed; we created them, we end them.
        await Promise.all([producerConn, workerConn].map((c) => c && quit(c)));
      })();
      return closing;
    },
  };
}

/**
 * disconnect() on a client that is between reconnect attempts never emits 'end' and leaves its
 * status at 'reconnecting' (redis/ioredis#1247), so BullMQ, which waits for 'end', would wait forever.
 * Finish the job ioredis leaves undone, as BullMQ itself does for status.
 */
function endNow(conn: Redis): void {
  conn.disconnect();
  if (conn.status === 'end') return;
  conn.status = 'end';
  conn.emit('end');
}

/** True when p settled (either way) within ms. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = p.then(() => true, () => true);
  const result = await Promise.race([settled, new Promise<false>((r) => (timer = setTimeout(r, ms, false)))]);
  clearTimeout(timer);
  return result;
}

/** QUIT, but never wait on a dead server: fall back to dropping the socket. */
async function quit(conn: Redis): Promise<void> {
  if (conn.status !== 'end') await settlesWithin(conn.quit(), 1_000);
  conn.disconnect();
}

function defaultOnError(err: Error, job?: JobMeta): void {
  console.error(job ? `job ${job.name} ${job.jobId} attempt ${job.attempt} failed:` : 'job engine error:', err);
}
