import type { Challenge } from '../generated/prisma/client.ts';
import * as store from '../db/challenge-store.ts';
import type { ExpiredRow } from '../db/challenge-store.ts';
import type { Deps } from '../deps.ts';
import { emit } from './events.ts';
import { recordAudit, recordAuditBatch } from './audit.ts';
import { challengeEvent, expiredAudit } from './challenge-events.ts';

// Expiry: one delayed job per challenge, and the repeating reconciliation that expires whatever
// the delayed jobs missed. Both write through challenge-store's conditional statements, so an
// early, late or repeated run is harmless.

export const EXPIRE_JOB = 'expire-challenge';
export const RECONCILE_JOB = 'reconcile-expiry';

/** One delayed job per challenge; its id comes from the SID, so retries and duplicates are harmless. */
/**
 * Schedules the challenge's expiry job without holding up the answer: the request's outcome is
 * already committed, and the job only makes EXPIRED durable (the effective status reads it at once).
 * One that fails, or is cut off by a shutdown, is expired by reconciliation.
 */
export function scheduleExpiry(deps: Deps, c: Challenge): void {
  deps.jobs
    .enqueue(EXPIRE_JOB, { challengeSid: c.sid }, { jobId: `expire-${c.sid}`, runAt: c.expirationDate, attempts: 5, backoffMs: 1000 })
    // The queue being down never fails a request: reconciliation expires it anyway.
    .catch((err: unknown) => deps.logger.warn({ err, challengeSid: c.sid }, 'could not schedule expiry; reconciliation will catch it'));
}

export async function markExpired(deps: Deps, c: Pick<Challenge, 'sid'>, now: Date): Promise<ExpiredRow | null> {
  const r = await store.expireOne(deps.prisma, c.sid, now);
  if (!r) return null;
  await emit(deps, challengeEvent('challenge.expired', r), { webhookSids: r.webhookSids });
  await recordAudit(deps, expiredAudit(r));
  return r;
}

/** The delayed job's handler: conditional (only PENDING → EXPIRED), so early, late or repeated runs are safe. */
export async function expireChallengeJob(deps: Deps, challengeSid: string): Promise<void> {
  const now = deps.now();
  const expired = await markExpired(deps, { sid: challengeSid }, now);
  if (expired) return void deps.metrics.expired(expired.expirationDate, now); // the common case: one statement
  const c = await store.challengeExpiryState(deps.prisma, challengeSid);
  if (!c || c.status !== 'pending' || c.expirationDate <= now) return; // gone, answered, or expired meanwhile
  // Ran early (clock skew between hosts): try again at the right time. A new job id, since this
  // running job still holds `expire-<sid>` and a same-id enqueue would be ignored.
  const runAt = c.expirationDate;
  await deps.jobs
    .enqueue(EXPIRE_JOB, { challengeSid: c.sid }, { jobId: `expire-${c.sid}-${now.getTime()}`, runAt, attempts: 5, backoffMs: 1000 })
    .catch((err: unknown) => deps.logger.warn({ err, challengeSid: c.sid }, 'could not reschedule expiry; reconciliation will catch it'));
}

/**
 * The repeating job: expires every overdue pending challenge in batches, whatever happened to the
 * delayed jobs, and keeps going while batches come back full. Pipelined: the next batch's UPDATE
 * runs while the previous batch is announced (audit append and events), so PostgreSQL's work and
 * ours overlap; at most one batch is being announced at a time (memory stays bounded, audit
 * batches append in expiry order, a batch's events leave before the next batch's).
 */
export async function reconcileExpiry(deps: Deps, batchSize = 5000): Promise<number> {
  let total = 0;
  let announcing: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const now = deps.now();
      const rows = await store.expireOverdueBatch(deps.prisma, now, batchSize);
      await announcing;
      announcing = announceExpired(deps, rows, now);
      total += rows.length;
      if (rows.length < batchSize) return total;
    }
  } finally {
    // Even when an UPDATE fails, the batch already expired is announced before we return.
    await announcing;
  }
}

/** A committed batch's audit rows and events. Never throws (recordAuditBatch and emit do not). */
async function announceExpired(deps: Deps, rows: ExpiredRow[], now: Date): Promise<void> {
  if (rows.length === 0) return;
  for (const r of rows) deps.metrics.expired(r.expirationDate, now);
  await Promise.all([
    recordAuditBatch(deps, rows.map(expiredAudit)), // one transaction per batch, not one per row
    // Subscribers came with the rows, so an event costs a publish (pipelined) and, only where a
    // webhook subscribes, its fan-out: the batch is announced concurrently, not one await per row.
    ...rows.map((r) => emit(deps, challengeEvent('challenge.expired', r), { webhookSids: r.webhookSids })),
  ]);
}
