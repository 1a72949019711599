import { checkpointMac, deriveCheckpointKey } from '../domain/audit.ts';
import {
  auditChainsAfter,
  auditCut,
  auditRetentionState,
  countPurgeable,
  deleteCoveredAuditEvents,
  deleteEndedChallenges,
  deleteFinishedWebhookDeliveries,
  insertAuditCheckpoint,
  type DeletedBatch,
} from '../db/retention-store.ts';
import type { Deps } from '../deps.ts';

// Data retention: what may be deleted by age, and in what order. Ended challenges (approved,
// denied, expired) and finished webhook deliveries (succeeded, dead) created before the cut go;
// pending challenges, deliveries still being retried, factors, entities, services and accounts are
// never deleted by age. Audit events created before the cut go too, behind a signed checkpoint per
// account, so `npm run audit:verify` still verifies each chain (from the checkpoint on).
// Everything is deleted in short batches, each its own transaction: safe beside live traffic, and
// an interrupted purge resumes where it stopped when run again.

export const RETENTION_JOB = 'retention-purge';
export const DEFAULT_PURGE_BATCH = 5000;
const DAY_MS = 86_400_000;

export type PurgeDeps = Pick<Deps, 'prisma' | 'now' | 'fingerprintKey'>;

export type PurgePhase = 'challenges' | 'webhookDeliveries' | 'auditEvents';

export interface PurgeProgress {
  phase: PurgePhase;
  /** Rows deleted so far in this phase. */
  done: number;
  /** Rows this phase expects to delete (audit events: known per account as the purge reaches it, so it grows). */
  total: number;
}

export interface PurgeResult {
  challenges: number;
  webhookDeliveries: number;
  auditEvents: number;
  /** Checkpoints written by this run (a resumed run re-uses the ones already written). */
  checkpoints: number;
}

export interface PurgeOptions {
  before: Date;
  batchSize?: number;
  /** Called after each committed batch; a throw stops the purge there (everything before it stays done). */
  onProgress?: (p: PurgeProgress) => void;
}

/** The cut for a retention of `days` days at `now`: everything created before it may go. */
export const retentionCut = (now: Date, days: number) => new Date(now.getTime() - days * DAY_MS);

/** Deletes what the retention rules allow before `before`, in committed batches (see the file comment). */
export async function purge(deps: PurgeDeps, opts: PurgeOptions): Promise<PurgeResult> {
  const { prisma } = deps;
  const batch = Math.max(1, Math.floor(opts.batchSize ?? DEFAULT_PURGE_BATCH));
  const before = opts.before;
  if (Number.isNaN(before.getTime())) throw new RangeError('purge: before is not a valid date');
  const progress = opts.onProgress ?? (() => {});
  const expected = await countPurgeable(prisma, before);

  const byDate = async (phase: PurgePhase, total: number, del: (from: Date | null) => Promise<DeletedBatch>) => {
    let done = 0;
    let from: Date | null = null;
    for (;;) {
      const b = await del(from);
      done += b.count;
      if (b.count > 0) progress({ phase, done, total: Math.max(total, done) });
      if (b.count < batch) return done;
      from = b.last;
    }
  };
  const challenges = await byDate('challenges', expected.challenges, (from) => deleteEndedChallenges(prisma, before, from, batch));
  const webhookDeliveries = await byDate('webhookDeliveries', expected.webhookDeliveries, (from) =>
    deleteFinishedWebhookDeliveries(prisma, before, from, batch),
  );
  const audit = await purgeAuditEvents(deps, before, batch, progress);
  return { challenges, webhookDeliveries, ...audit };
}

/**
 * Per account: the newest event that, with all before it, is older than the cut becomes a
 * checkpoint (signed, written before any delete it covers: the trigger allows no other), then the
 * covered events are deleted oldest first. A re-run finds the checkpoint and finishes the deletes.
 * Appends (and the inbox seal) only touch the chain's head, newer than any cut, so they go on meanwhile.
 */
async function purgeAuditEvents(
  deps: PurgeDeps,
  before: Date,
  batch: number,
  progress: (p: PurgeProgress) => void,
): Promise<{ auditEvents: number; checkpoints: number }> {
  const { prisma } = deps;
  const key = deriveCheckpointKey(deps.fingerprintKey);
  let done = 0;
  let total = 0;
  let checkpoints = 0;
  let after = '';
  for (;;) {
    const accounts = await auditChainsAfter(prisma, after, 1000);
    for (const accountSid of accounts) {
      const state = await auditRetentionState(prisma, accountSid);
      let covered = state.covered;
      const cut = await auditCut(prisma, accountSid, covered, before);
      if (cut) {
        const c = { accountSid, seq: cut.seq, hash: cut.hash, dateCreated: deps.now() };
        await insertAuditCheckpoint(prisma, { ...c, mac: checkpointMac(key, c) });
        covered = cut.seq;
        checkpoints++;
      }
      if (state.oldest === null || state.oldest > covered) continue;
      total += Number(covered - state.oldest + 1n);
      for (;;) {
        const n = await deleteCoveredAuditEvents(prisma, accountSid, covered, batch);
        done += n;
        if (n > 0) progress({ phase: 'auditEvents', done, total: Math.max(total, done) });
        if (n < batch) break;
      }
    }
    if (accounts.length < 1000) break;
    after = accounts.at(-1)!;
  }
  return { auditEvents: done, checkpoints };
}

/**
 * The daily job: purges what is older than VERITY_RETENTION_DAYS at the job's `now` (0 keeps
 * everything; the schedule is then never registered). Returns what it deleted, for the log.
 */
export async function runRetentionJob(deps: PurgeDeps & Pick<Deps, 'config'>): Promise<PurgeResult | null> {
  const days = deps.config.retentionDays;
  if (days <= 0) return null;
  return purge(deps, { before: retentionCut(deps.now(), days) });
}
