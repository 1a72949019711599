// Scenario e: many pending challenges expiring at one instant. Two paths:
//  - bulk: N rows inserted directly (no per-challenge jobs), all given one expirationDate a few
//    seconds ahead; only reconciliation (expireOverdueBatch, 1,000 per statement) expires them.
//  - jobs: K challenges created through the API (createChallenge enqueues one delayed job each),
//    all with one expirationDate; the delayed jobs expire them.
// Measured: time from expirationDate until none is pending, and the lag of each row
// (dateUpdated − expirationDate), read back from the rows themselves.
import type { PrismaClient } from '../../src/db/client.ts';
import { newSid } from '../../src/domain/sid.ts';
import { progress, progressDone, round } from '../load.ts';
import type { Seeded } from '../seed.ts';

export interface DrainResult {
  /** bulk: all at one instant; sustained: spread evenly at a fixed rate; jobs: through the API's delayed jobs. */
  path: 'bulk' | 'sustained' | 'jobs';
  challenges: number;
  /** From the common expirationDate until the last one was no longer pending. */
  drainSeconds: number;
  perSecond: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  stillPending: number;
}

type Drain = Seeded['drain'];

export async function insertPending(
  prisma: PrismaClient,
  seeded: Seeded,
  n: number,
  expirationDate: Date,
  onProgress?: (k: number) => void,
) {
  const now = new Date();
  for (let from = 0; from < n; from += 5000) {
    const k = Math.min(5000, n - from);
    await prisma.challenge.createMany({
      data: Array.from({ length: k }, () => ({
        sid: newSid('challenge'),
        accountSid: seeded.accountSid,
        serviceSid: seeded.drain.serviceSid,
        entitySid: seeded.drain.entitySid,
        identity: seeded.drain.identity,
        factorSid: seeded.drain.factorSid,
        expirationDate,
        dateCreated: now,
        dateUpdated: now,
      })),
    });
    onProgress?.(from + k);
  }
}

/** Waits until no drain challenge is pending (or timeout), then reads the lag distribution. */
export async function measureDrain(
  prisma: PrismaClient,
  drain: Drain,
  path: DrainResult['path'],
  expirationDate: Date,
  total: number,
  timeoutMs: number,
  onTick?: () => void,
): Promise<DrainResult> {
  const where = { serviceSid: drain.serviceSid, status: 'pending' as const };
  let pending = total;
  let doneAt = NaN;
  const until = expirationDate.getTime() + timeoutMs;
  while (Date.now() < until) {
    onTick?.();
    pending = await prisma.challenge.count({ where });
    const t = (Date.now() - expirationDate.getTime()) / 1000;
    progress(
      `  e. expiry (${path}): ${total - pending}/${total} expired, ${t >= 0 ? `${t.toFixed(1)} s after` : `${(-t).toFixed(1)} s before`} expirationDate`,
    );
    if (pending === 0 && Date.now() >= expirationDate.getTime()) {
      // The last row's own dateUpdated is the exact finish, not our polling instant.
      const last = await prisma.challenge.aggregate({ where: { serviceSid: drain.serviceSid }, _max: { dateUpdated: true } });
      doneAt = last._max.dateUpdated?.getTime() ?? Date.now();
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  progressDone();
  const [lag] = await prisma.$queryRaw<{ p50: number | null; p99: number | null; max: number | null }[]>`
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
    FROM (SELECT EXTRACT(EPOCH FROM ("dateUpdated" - "expirationDate")) * 1000 AS ms FROM "Challenge"
          WHERE "serviceSid" = ${drain.serviceSid} AND "status" = 'expired') x`;
  // Not finished within the timeout: the rate of what did expire, and stillPending says how many did not.
  const drainSeconds = ((Number.isNaN(doneAt) ? Date.now() : doneAt) - expirationDate.getTime()) / 1000;
  return {
    path,
    challenges: total,
    drainSeconds: round(drainSeconds),
    perSecond: Math.round((total - pending) / Math.max(drainSeconds, 0.001)),
    lagP50Ms: round(Number(lag?.p50 ?? NaN), 0),
    lagP99Ms: round(Number(lag?.p99 ?? NaN), 0),
    lagMaxMs: round(Number(lag?.max ?? NaN), 0),
    stillPending: pending,
  };
}

/**
 * Makes the drain's challenges pending again with expiration dates spread evenly from `start`,
 * `ratePerS` per second: a steady stream of expiries instead of one burst, so the lag measured is
 * the sweep's own latency at that rate, not the queue behind 50,000 simultaneous expiries.
 */
export async function spreadPending(prisma: PrismaClient, drain: Drain, start: Date, ratePerS: number) {
  await prisma.$executeRaw`
    UPDATE "Challenge" c SET "status" = 'pending', "dateUpdated" = now(),
      "expirationDate" = ${start}::timestamp(3) + make_interval(secs => (x.n - 1) / ${ratePerS}::float8)
    FROM (SELECT "sid", row_number() OVER (ORDER BY "sid") AS n FROM "Challenge" WHERE "serviceSid" = ${drain.serviceSid}) x
    WHERE c."sid" = x."sid"`;
}

/** Removes the drain's challenges (between the two paths). */
export async function clearDrain(prisma: PrismaClient, drain: Drain) {
  await prisma.challenge.deleteMany({ where: { serviceSid: drain.serviceSid } });
}
