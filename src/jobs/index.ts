import { createBullJobEngine } from './bullmq.ts';
import { createLocalJobEngine } from './local.ts';
import type { JobEngine, JobErrorListener } from './types.ts';

export type { EnqueueOptions, JobCounts, JobData, JobEngine, JobErrorListener, JobHandler, JobMeta } from './types.ts';
export { createBullJobEngine, type BullJobEngineOptions } from './bullmq.ts';
export { createLocalJobEngine, type LocalJobEngineOptions } from './local.ts';

/** Production (REDIS_URL set) gets BullMQ; embedded mode the in-process scheduler, same handlers either way. */
export function createJobEngine(config: {
  redisUrl?: string;
  redisCluster?: boolean;
  prefix?: string;
  onError?: JobErrorListener;
  timeoutMs?: number;
  now?: () => Date;
}): JobEngine {
  const { redisUrl, redisCluster, prefix, onError, timeoutMs, now } = config;
  return redisUrl
    ? createBullJobEngine({ redisUrl, redisCluster, prefix, onError, timeoutMs, now })
    : createLocalJobEngine({ onError, now });
}
