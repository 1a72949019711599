import { randomUUID } from 'node:crypto';
import type { EnqueueOptions, JobData, JobEngine, JobErrorListener, JobHandler, JobMeta } from './types.ts';

// setTimeout keeps its delay in an int32: anything longer fires at once, so long waits are re-armed in steps.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

interface LocalJob {
  id: string;
  name: string;
  data: JobData;
  runAt: number;
  attempts: number;
  backoffMs: number;
  attempt: number;
  timer?: NodeJS.Timeout;
}

interface Repeat {
  everyMs: number;
  data: JobData;
  timer?: NodeJS.Timeout;
}

export interface LocalJobEngineOptions {
  onError?: JobErrorListener;
  /** The clock `runAt` is read on (the app's deps.now; default the wall clock). */
  now?: () => Date;
}

/**
 * Embedded mode: the BullMQ engine's semantics in memory. Jobs are lost on exit, which is fine
 * because correctness never depends on a job running (DESIGN.md) and start-up reconciliation
 * re-creates what matters. No timer exists until startWorkers, so a process that only enqueues
 * is never held open; after that timers are ref'd (a worker must stay alive) until close().
 */
export function createLocalJobEngine(opts: LocalJobEngineOptions = {}): JobEngine {
  const listener = opts.onError ?? defaultOnError;
  const now = opts.now ?? (() => new Date());
  // Timers count elapsed time (monotonic), whatever the app's clock says; runAt is turned into a
  // delay on the app's clock once, when the job is enqueued.
  const elapsed = () => performance.now();
  // A throwing listener must not wedge the scheduler.
  const onError: JobErrorListener = (err, job) => {
    try {
      listener(err, job);
    } catch {
      // A listener's own failure must not take the job engine down with it.
    }
  };
  // Every job from enqueue until it completes or finally fails — this map is the jobId dedup set.
  const jobs = new Map<string, LocalJob>();
  const ready: LocalJob[] = [];
  const running = new Set<Promise<void>>();
  const active = new Set<string>(); // ids of jobs handed to a handler (for pendingCount)
  const repeats = new Map<string, Repeat>();
  let handlers: Record<string, JobHandler> | undefined;
  let concurrency = 1;
  let closed = false;

  const arm = (job: LocalJob): void => {
    if (!handlers || closed) return;
    const wait = job.runAt - elapsed();
    if (wait > 0) {
      // Re-checking on wake-up also covers timers that fire a millisecond early: never run before runAt.
      job.timer = setTimeout(() => arm(job), Math.min(wait, MAX_TIMEOUT_MS));
      return;
    }
    job.timer = undefined;
    ready.push(job);
    pump();
  };

  /** Runs one attempt; true when the job should be retried. */
  const run = async (job: LocalJob, handler: JobHandler | undefined): Promise<boolean> => {
    const meta: JobMeta = { jobId: job.id, attempt: job.attempt, name: job.name };
    try {
      if (!handler) throw new Error(`no handler for job "${job.name}"`);
      await handler(job.data, meta);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)), meta);
      if (job.attempt < job.attempts && !closed) {
        // Same curve as BullMQ's 'exponential' backoff: base * 2^(attempts made - 1).
        job.runAt = elapsed() + job.backoffMs * 2 ** (job.attempt - 1);
        job.attempt++;
        return true;
      }
    }
    jobs.delete(job.id);
    return false;
  };

  const pump = (): void => {
    let job: LocalJob | undefined;
    while (handlers && !closed && running.size < concurrency && (job = ready.shift())) {
      const handler = handlers[job.name];
      const current = job;
      active.add(current.id);
      // Start on a later tick so a handler never runs inside the enqueue() call that scheduled it.
      const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => run(current, handler))
        .then((retry) => {
          running.delete(p);
          active.delete(current.id);
          if (retry) arm(current);
          pump();
        });
      running.add(p);
    }
  };

  const repeatIds = new Set<string>();
  const startRepeat = (name: string, r: Repeat): void => {
    // A fixed jobId keeps a slow run from overlapping the next one: the tick is a no-op while it is pending or running.
    const jobId = `repeat:${name}`;
    repeatIds.add(jobId);
    const tick = () => void engine.enqueue(name, r.data, { jobId }).catch(() => {});
    r.timer = setInterval(tick, r.everyMs);
    tick();
  };

  const assertOpen = () => {
    if (closed) throw new Error('job engine is closed');
  };

  const engine: JobEngine = {
    kind: 'local',

    async enqueue(name: string, data: JobData, o: EnqueueOptions = {}): Promise<void> {
      assertOpen();
      if (o.jobId !== undefined && jobs.has(o.jobId)) return;
      const job: LocalJob = {
        id: o.jobId ?? randomUUID(),
        name,
        data: { ...data }, // a snapshot, as BullMQ serialises it
        runAt: elapsed() + (o.runAt ? Math.max(0, o.runAt.getTime() - now().getTime()) : 0),
        attempts: Math.max(1, o.attempts ?? 1),
        backoffMs: Math.max(0, o.backoffMs ?? 0),
        attempt: 1,
      };
      jobs.set(job.id, job);
      arm(job);
    },

    async repeat(name: string, everyMs: number, data: JobData = {}): Promise<void> {
      assertOpen();
      if (!(everyMs >= 1 && everyMs <= MAX_TIMEOUT_MS)) throw new RangeError(`repeat every ${everyMs} ms is out of range`);
      clearInterval(repeats.get(name)?.timer);
      // Replace a run still waiting with the old data, as BullMQ's upsert replaces the next job.
      const waiting = jobs.get(`repeat:${name}`);
      if (waiting && !active.has(waiting.id)) {
        clearTimeout(waiting.timer);
        jobs.delete(waiting.id);
        if (ready.includes(waiting)) ready.splice(ready.indexOf(waiting), 1);
      }
      const r: Repeat = { everyMs, data: { ...data } };
      repeats.set(name, r);
      if (handlers) startRepeat(name, r);
    },

    async startWorkers(h: Record<string, JobHandler>, o: { concurrency?: number } = {}): Promise<void> {
      assertOpen();
      if (handlers) throw new Error('workers already started');
      handlers = h;
      concurrency = Math.max(1, o.concurrency ?? 1);
      // Jobs held since before start: arm them in enqueue order (due ones run first-in first-out).
      for (const job of jobs.values()) arm(job);
      for (const [name, r] of repeats) startRepeat(name, r);
    },

    async pendingCount(): Promise<number> {
      // Like BullMQ, where a repeating job's next run always sits in the delayed set: one per repeat.
      let n = repeats.size;
      for (const job of jobs.values()) if (!active.has(job.id) && !repeatIds.has(job.id)) n++;
      return n;
    },

    async counts() {
      const waiting = ready.length;
      return { waiting, active: active.size, delayed: Math.max(0, jobs.size - waiting - active.size), failed: 0 };
    },

    async close(): Promise<void> {
      closed = true;
      for (const r of repeats.values()) clearInterval(r.timer);
      for (const job of jobs.values()) clearTimeout(job.timer);
      ready.length = 0;
      await Promise.allSettled([...running]);
    },
  };
  return engine;
}

function defaultOnError(err: Error, job?: JobMeta): void {
  console.error(job ? `job ${job.name} ${job.jobId} attempt ${job.attempt} failed:` : 'job engine error:', err);
}
