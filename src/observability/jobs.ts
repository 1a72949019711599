import type { JobHandler } from '../jobs/types.ts';
import type { Logger } from '../logger.ts';
import { runWithLogContext } from './log-context.ts';

/**
 * Each job runs in a log context of its own (jobId, job name): every line it writes, down to the
 * services it calls, names the job — not the request that happened to enqueue it. Job ids are
 * built from SIDs (DESIGN.md "Secrets"), so they are safe to log.
 */
export function withJobLogContext(logger: Logger, handlers: Record<string, JobHandler>): Record<string, JobHandler> {
  return Object.fromEntries(
    Object.entries(handlers).map(([name, handler]): [string, JobHandler] => [
      name,
      (data, meta) =>
        runWithLogContext({ jobId: meta.jobId, job: meta.name }, async () => {
          const t0 = performance.now();
          logger.debug({ attempt: meta.attempt }, 'job started');
          await handler(data, meta);
          logger.debug({ attempt: meta.attempt, durationMs: Math.round((performance.now() - t0) * 10) / 10 }, 'job done');
        }),
    ]),
  );
}
