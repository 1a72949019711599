import type { Deps } from '../deps.ts';
import { EXPIRE_JOB, RECONCILE_JOB, expireChallengeJob, reconcileExpiry } from '../services/challenge-expiry.ts';
import { DELIVER_WEBHOOK_JOB } from '../services/webhook-fanout.ts';
import { deliverWebhookJob, reconcileWebhookDeliveries } from '../services/webhook-delivery.ts';
import { RETENTION_JOB, runRetentionJob } from '../services/retention.ts';
import type { JobEngine, JobHandler } from './types.ts';
import { withJobLogContext } from '../observability/jobs.ts';

/** The job handlers, the same for both back ends; each delegates to a service. */
export function jobHandlers(deps: Deps): Record<string, JobHandler> {
  return {
    [EXPIRE_JOB]: async (data) => expireChallengeJob(deps, String(data.challengeSid)),
    [RECONCILE_JOB]: async () => {
      const n = await reconcileExpiry(deps);
      if (n > 0) deps.logger.info({ expired: n }, 'reconciliation expired overdue challenges');
      // A delivery whose next attempt is overdue by more than a minute lost its job (Redis flush, crash).
      const d = await reconcileWebhookDeliveries(deps, 60_000 + deps.config.webhookTimeoutMs);
      if (d > 0) deps.logger.info({ deliveries: d }, 'reconciliation re-enqueued overdue webhook deliveries');
    },
    [RETENTION_JOB]: async () => {
      const r = await runRetentionJob(deps);
      if (r) deps.logger.info({ ...r, retentionDays: deps.config.retentionDays }, 'retention purge done');
    },
    [DELIVER_WEBHOOK_JOB]: async (data) =>
      deliverWebhookJob(deps, {
        deliverySid: String(data.deliverySid),
        generation: Number(data.generation),
        attempt: Number(data.attempt),
      }),
  };
}

/** Every day: the retention purge's schedule (its first run is when the schedule is registered). */
export const RETENTION_EVERY_MS = 86_400_000;

/** Starts this process's workers and (re)registers the repeating reconciliation and retention jobs. */
export async function startWorkers(deps: Deps, jobs: JobEngine, opts: { reconcileEveryMs: number; concurrency?: number }) {
  await jobs.startWorkers(withJobLogContext(deps.logger, jobHandlers(deps)), { concurrency: opts.concurrency ?? 8 });
  await jobs.repeat(RECONCILE_JOB, opts.reconcileEveryMs);
  // VERITY_RETENTION_DAYS=0 keeps everything: no schedule at all (the handler also does nothing then).
  if (deps.config.retentionDays > 0) await jobs.repeat(RETENTION_JOB, RETENTION_EVERY_MS);
}
