import type { Deps } from '../deps.ts';
import { EXPIRE_JOB, RECONCILE_JOB, expireChallengeJob, reconcileExpiry } from '../services/challenge-expiry.ts';
import { DELIVER_WEBHOOK_JOB } from '../services/webhook-fanout.ts';
import { deliverWebhookJob, reconcileWebhookDeliveries } from '../services/webhook-delivery.ts';
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
    [DELIVER_WEBHOOK_JOB]: async (data) =>
      deliverWebhookJob(deps, {
        deliverySid: String(data.deliverySid),
        generation: Number(data.generation),
        attempt: Number(data.attempt),
      }),
  };
}

/** Starts this process's workers and (re)registers the repeating reconciliation job. */
export async function startWorkers(deps: Deps, jobs: JobEngine, opts: { reconcileEveryMs: number; concurrency?: number }) {
  await jobs.startWorkers(withJobLogContext(deps.logger, jobHandlers(deps)), { concurrency: opts.concurrency ?? 8 });
  await jobs.repeat(RECONCILE_JOB, opts.reconcileEveryMs);
}
