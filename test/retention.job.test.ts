import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveCheckpointKey } from '../src/domain/audit.ts';
import { retentionCut, runRetentionJob } from '../src/services/retention.ts';
import { startWorkers } from '../src/jobs/handlers.ts';
import { createLocalJobEngine } from '../src/jobs/local.ts';
import { createLogger } from '../src/logger.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { CreateChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';

// The daily retention job: registered by the workers when VERITY_RETENTION_DAYS > 0, purging what
// is older than that many days at the job's own `now` (the app's clock); 0 keeps everything.

const DAY = 86_400_000;
const T0 = Date.parse('2026-02-01T00:00:00.000Z');

const lines: string[] = [];
const waiting = new Set<() => void>();
const logger = createLogger('info', {
  write: (s: string) => {
    lines.push(s);
    for (const w of waiting) w();
  },
});
/** Resolves with the first log line matching `re` (already written, or when it is). */
const logLine = (re: RegExp) =>
  new Promise<string>((resolve) => {
    const check = () => {
      const hit = lines.find((l) => re.test(l));
      if (hit) {
        waiting.delete(check);
        resolve(hit);
      }
    };
    waiting.add(check);
    check();
  });

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ VERITY_RETENTION_DAYS: '30' }, { logger });
});
afterAll(() => t.close());

describe('the retention job', () => {
  it('runs when the workers start, then daily, and purges what is older than VERITY_RETENTION_DAYS at the app’s now', async () => {
    t.clock.set(new Date(T0));
    const tenant = await t.newAccount('Old');
    const f = await verifiedFactor(t, tenant);
    const old = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, tenant.auth)).createChallenge;
    expect(old.status).toBe('APPROVED');
    t.clock.set(new Date(T0 + 29 * DAY));
    const recent = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, tenant.auth)).createChallenge;
    await t.deps.auditLog.flush(tenant.sid);

    // 31 days after the first login: it is past the 30-day cut, the second is not.
    t.clock.set(new Date(T0 + 31 * DAY));
    await t.runtime.startWorkers();
    const done = JSON.parse(await logLine(/retention purge done/)) as Record<string, unknown>;
    expect(done).toMatchObject({ challenges: 1, retentionDays: 30 });
    expect(done.auditEvents).toBeGreaterThan(0);
    expect(await t.db.prisma.challenge.findUnique({ where: { sid: old.sid } })).toBeNull();
    expect(await t.db.prisma.challenge.findUnique({ where: { sid: recent.sid } })).not.toBeNull();
    expect(
      await t.db.prisma.auditEvent.count({ where: { accountSid: tenant.sid, dateCreated: { lt: retentionCut(t.clock.now(), 30) } } }),
    ).toBe(0);
    expect(await t.db.prisma.factor.count({ where: { accountSid: tenant.sid } })).toBe(1);
    const key = async () => deriveCheckpointKey(t.deps.fingerprintKey);
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: tenant.sid, checkpointKey: key })).toMatchObject({ ok: true });
  });

  it('is scheduled only when VERITY_RETENTION_DAYS > 0; with 0 it does nothing', async () => {
    // A second engine beside the app's: the schedules it holds are what startWorkers registered.
    const scheduled = async (retentionDays: number) => {
      const jobs = createLocalJobEngine({ now: t.clock.now, onError: () => {} });
      try {
        await startWorkers({ ...t.deps, config: { ...t.config, retentionDays } }, jobs, { reconcileEveryMs: DAY });
        return await jobs.pendingCount(); // one per repeating job
      } finally {
        await jobs.close();
      }
    };
    expect(await scheduled(30)).toBe(2);
    expect(await scheduled(0)).toBe(1);

    t.clock.set(new Date(T0 + 400 * DAY));
    const before = await t.db.prisma.challenge.count();
    expect(before).toBeGreaterThan(0);
    expect(await runRetentionJob({ ...t.deps, config: { ...t.config, retentionDays: 0 } })).toBeNull();
    expect(await t.db.prisma.challenge.count()).toBe(before);
  });
});
