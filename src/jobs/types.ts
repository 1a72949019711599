import type { Queue } from 'bullmq';
/** Job payloads are stored in clear text in Redis: SIDs and flags only, never secrets (DESIGN.md "Secrets"). */
export type JobData = Record<string, string | number | boolean | null>;

export interface EnqueueOptions {
  /**
   * Dedup key (e.g. derived from a challenge SID). While a job with this id is pending, delayed,
   * retrying or running, enqueueing it again does nothing — the first job's data and runAt win.
   * Once it has completed the id is free again. BullMQ keeps finally-failed jobs for a while
   * (removeOnFail) and their ids stay taken until trimmed; the local engine frees them at once.
   */
  jobId?: string;
  /** Run no earlier than this, on the engine's clock (the app's deps.now); past dates run now. */
  runAt?: Date;
  /** Total tries including the first (default 1). */
  attempts?: number;
  /** Exponential backoff base: retry n waits backoffMs * 2^(n-1). */
  backoffMs?: number;
}

export interface JobMeta {
  jobId: string;
  /** 1-based. */
  attempt: number;
  name: string;
}

/** Jobs by state. `failed`: kept after their last attempt (BullMQ's removeOnFail; always 0 locally). */
export interface JobCounts {
  waiting: number;
  delayed: number;
  active: number;
  failed: number;
}

export type JobHandler = (data: JobData, meta: JobMeta) => Promise<void>;

/** Called for failed attempts and connection errors; the engines never throw these at the caller. */
export type JobErrorListener = (err: Error, job?: JobMeta) => void;

export interface JobEngine {
  readonly kind: 'bullmq' | 'local';
  /**
   * Idempotent when jobId is given (see EnqueueOptions.jobId). Rejects promptly when the back end is
   * unreachable; callers log and rely on reconciliation. A rejected call may still be stored once
   * Redis is back, so give a jobId wherever a duplicate would matter.
   */
  enqueue(name: string, data: JobData, opts?: EnqueueOptions): Promise<void>;
  /**
   * A repeating job: first run now (BullMQ's `every` schedulers do the same), then every everyMs.
   * Runs never overlap an earlier run of the same name that is still pending or running on the local engine.
   * Re-calling with the same name replaces it. On BullMQ the schedule lives in Redis (one per name,
   * whatever the number of processes) and is re-created if Redis loses it.
   */
  repeat(name: string, everyMs: number, data?: JobData): Promise<void>;
  /** Start processing with these handlers (by job name). Only processes that run workers call it, once. */
  startWorkers(handlers: Record<string, JobHandler>, opts?: { concurrency?: number }): Promise<void>;
  /** Jobs waiting or delayed (not running), counting one next run per repeating job (for metrics/tests). */
  pendingCount(): Promise<number>;
  /** Jobs by state right now (the /metrics queue depth, read on scrape). */
  counts(): Promise<JobCounts>;
  /** BullMQ only: the queues the operator's dashboard shows (src/observability/queue-board.ts). */
  boardQueues?(): Queue[];
  /** Graceful: stop taking new jobs, wait for running handlers to finish, close connections. */
  close(): Promise<void>;
}
