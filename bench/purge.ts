// `npm run bench -- --only purge [--purge-rows 1000000]`: the retention purge on PostgreSQL while
// logins go on. Seeds N ended challenges (generate_series, one statement per 250k rows) and an
// audit chain of old events, starts the API (compiled, as `npm start` runs it), measures an
// open-loop login load alone (the baseline), then the same load while `purge()` deletes everything
// older than the cut. Reported: the purge's rate, its longest batch (each batch is one transaction,
// so the longest any row lock of the purge was held), the longest lock wait of any other backend
// (pg_locks' waitstart of ungranted locks, sampled every 10 ms), and the logins' latency during the purge ÷ alone.
import pg from 'pg';
import { openDatabase } from '../src/db/client.ts';
import { appendAuditEvents } from '../src/db/audit-store.ts';
import { canonicalJson, deriveCheckpointKey, type AuditContent } from '../src/domain/audit.ts';
import { parseKeyring } from '../src/domain/seed-crypto.ts';
import { newSid } from '../src/domain/sid.ts';
import { loadFingerprintKey } from '../src/infra/keys.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';
import { purge, type PurgePhase } from '../src/services/retention.ts';
import { progress, progressDone, round, runLoad, type LoadResult } from './load.ts';
import { API_NODE_FLAGS, freePort, startChild, waitReady, type Child } from './proc.ts';
import { seed } from './seed.ts';
import { FactorPool, challengeRequest, expectStatus } from './scenarios/hot-path.ts';

export interface PurgeBenchResult {
  rows: { challenges: number; auditEvents: number; pendingKept: number };
  purgeSeconds: number;
  rowsPerSecond: number;
  batchSize: number;
  /** Longest batch per phase, ms: one statement and one transaction each, so the longest any purge row lock was held. */
  longestBatchMs: Record<PurgePhase, number>;
  /** Longest time any backend was seen waiting for a lock (pg_locks.waitstart of an ungranted lock), ms; sampled every 10 ms. */
  longestLockWaitMs: number;
  lockWaitSamples: number;
  loginsAlone: LoadResult;
  loginsDuringPurge: LoadResult;
  auditVerified: boolean;
}

const DAY = 86_400_000;

export async function purgeBench(o: {
  databaseUrl: string;
  dbName: string;
  keys: string;
  baseEnv: Record<string, string>;
  rows: number;
  auditEvents: number;
  batchSize: number;
  loginRate: number;
  baselineMs: number;
  children: Child[];
  log: (s: string) => void;
}): Promise<PurgeBenchResult> {
  const { log } = o;
  const db = await openDatabase({
    databaseUrl: o.databaseUrl,
    poolSize: 4,
    timeouts: { connectTimeoutMs: 10_000, statementTimeoutMs: 600_000 },
  });
  try {
    const keyring = parseKeyring(o.keys);
    const fingerprintKey = await loadFingerprintKey(db.prisma, keyring);
    // Enough factors that an open loop of loginRate/s never runs out of fresh TOTP steps.
    const factors = Math.max(1000, o.loginRate * 40);
    const seeded = await seed(db.prisma, keyring, fingerprintKey, {
      factors,
      readChallenges: 0,
      onProgress: (d, t) => progress(`  seeding factors ${d}/${t}`),
    });
    progressDone();

    // Old history: N ended challenges (2 of 3 approved, 1 expired) 100 days old, one ms apart, and
    // 1,000 pending ones as old (never purged by age).
    const d = seeded.drain;
    const old = Date.now() - 100 * DAY;
    const chunk = 250_000;
    const insert = async (from: number, n: number, status: string) =>
      db.prisma.$executeRawUnsafe(
        `INSERT INTO "Challenge" ("sid", "accountSid", "serviceSid", "entitySid", "identity", "factorSid", "status",
                                  "expirationDate", "dateCreated", "dateUpdated", "dateResponded")
         SELECT 'YC' || lpad(to_hex(g), 32, '0'), $1, $2, $3, $4, $5,
                (CASE WHEN $6 = 'pending' THEN 'pending' WHEN g % 3 = 0 THEN 'expired' ELSE 'approved' END)::"ChallengeStatus",
                $7::timestamp(3) + g * interval '1 ms' + interval '5 minutes', $7::timestamp(3) + g * interval '1 ms',
                $7::timestamp(3) + g * interval '1 ms', $7::timestamp(3) + g * interval '1 ms'
         FROM generate_series($8::int, $9::int) g`,
        seeded.accountSid,
        d.serviceSid,
        d.entitySid,
        d.identity,
        d.factorSid,
        status,
        new Date(old).toISOString(),
        from,
        from + n - 1,
      );
    const t0 = Date.now();
    for (let from = 1; from <= o.rows; from += chunk) {
      await insert(from, Math.min(chunk, o.rows - from + 1), 'ended');
      progress(`  inserting ended challenges ${Math.min(o.rows, from + chunk - 1)}/${o.rows}`);
    }
    await insert(o.rows + 1, 1000, 'pending');
    progressDone();
    log(`  ${o.rows} ended + 1000 pending challenges inserted in ${round((Date.now() - t0) / 1000, 1)} s`);
    // The old part of the account's audit chain, through the real append path (hashes linked).
    for (let i = 0; i < o.auditEvents; i += 5000) {
      const n = Math.min(5000, o.auditEvents - i);
      const events: AuditContent[] = Array.from({ length: n }, (_, k) => ({
        sid: newSid('auditEvent'),
        accountSid: seeded.accountSid,
        type: 'challenge.approved',
        serviceSid: d.serviceSid,
        entitySid: d.entitySid,
        factorSid: d.factorSid,
        challengeSid: newSid('challenge'),
        actor: 'account',
        details: canonicalJson({ identity: d.identity }),
        dateCreated: new Date(old + i + k),
      }));
      await appendAuditEvents(db.prisma, events);
      progress(`  appending old audit events ${i + n}/${o.auditEvents}`);
    }
    progressDone();
    await db.prisma.$executeRawUnsafe('VACUUM ANALYZE "Challenge"');
    await db.prisma.$executeRawUnsafe('VACUUM ANALYZE "AuditEvent"');

    // The API, compiled; no workers in it (the purge under test is this process's).
    const port = await freePort();
    const api = startChild(
      'src/main.ts',
      [],
      {
        ...o.baseEnv,
        PORT: String(port),
        VERITY_RUN_WORKERS: 'false',
        VERITY_RETENTION_DAYS: '0',
      },
      API_NODE_FLAGS,
    );
    o.children.push(api);
    await waitReady(api, `http://127.0.0.1:${port}/healthz`);
    const url = `http://127.0.0.1:${port}/graphql`;
    const pool = new FactorPool(seeded.factors);
    const logins = (name: string, durationMs: number, stop: () => boolean) =>
      runLoad({
        url,
        name,
        durationMs,
        maxRequests: 1e9,
        rate: o.loginRate,
        concurrency: 64,
        next: () => (stop() ? null : challengeRequest(seeded.auth, pool.right())),
        check: expectStatus('APPROVED'),
      });
    await logins('warm-up', 2000, () => false);
    const loginsAlone = await logins(`logins ${o.loginRate}/s, alone`, o.baselineMs, () => false);
    log(
      `  ${loginsAlone.name}: p50 ${loginsAlone.p50} ms p99 ${loginsAlone.p99} ms max ${loginsAlone.max} ms, ${loginsAlone.errors} errors`,
    );

    // Lock waits of every other backend of the bench database, sampled.
    const sampler = new pg.Client({ connectionString: o.databaseUrl });
    await sampler.connect();
    let sampling = true;
    let longestLockWaitMs = 0;
    let lockWaitSamples = 0;
    const sampled = (async () => {
      while (sampling) {
        const r = await sampler.query<{ ms: number }>(
          `SELECT extract(epoch FROM (clock_timestamp() - l.waitstart)) * 1000 AS ms
           FROM pg_locks l JOIN pg_stat_activity a USING (pid)
           WHERE NOT l.granted AND l.waitstart IS NOT NULL AND a.datname = $1`,
          [o.dbName],
        );
        for (const row of r.rows) {
          lockWaitSamples++;
          longestLockWaitMs = Math.max(longestLockWaitMs, Number(row.ms));
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    })();

    let purging = true;
    const longestBatchMs: Record<PurgePhase, number> = { challenges: 0, webhookDeliveries: 0, auditEvents: 0 };
    const during = logins(`logins ${o.loginRate}/s, during the purge`, 3_600_000, () => !purging);
    const p0 = Date.now();
    let last = p0;
    let phase: PurgePhase | null = null;
    const result = await purge(
      { prisma: db.prisma, now: () => new Date(), fingerprintKey },
      {
        before: new Date(Date.now() - 90 * DAY),
        batchSize: o.batchSize,
        onProgress: (p) => {
          const now = Date.now();
          // The first report of a phase also covers its set-up (counts, the audit cut): not a batch.
          if (p.phase === phase) longestBatchMs[p.phase] = Math.max(longestBatchMs[p.phase], now - last);
          phase = p.phase;
          last = now;
          progress(`  purging ${p.phase} ${p.done}/${p.total}`);
        },
      },
    );
    const purgeSeconds = (Date.now() - p0) / 1000;
    purging = false;
    const loginsDuringPurge = await during;
    sampling = false;
    await sampled;
    await sampler.end();
    progressDone();
    await api.stop();

    const pendingKept = await db.prisma.challenge.count({ where: { serviceSid: d.serviceSid, status: 'pending' } });
    const v = await verifyAuditTrail(db.prisma, { checkpointKey: async () => deriveCheckpointKey(fingerprintKey) });
    const deleted = result.challenges + result.auditEvents + result.webhookDeliveries;
    const r: PurgeBenchResult = {
      rows: { challenges: result.challenges, auditEvents: result.auditEvents, pendingKept },
      purgeSeconds: round(purgeSeconds, 1),
      rowsPerSecond: Math.round(deleted / purgeSeconds),
      batchSize: o.batchSize,
      longestBatchMs,
      longestLockWaitMs: round(longestLockWaitMs, 1),
      lockWaitSamples,
      loginsAlone,
      loginsDuringPurge,
      auditVerified: v.ok,
    };
    log(
      `  purge: ${result.challenges} challenges + ${result.auditEvents} audit events in ${r.purgeSeconds} s (${r.rowsPerSecond} rows/s), ` +
        `longest batch ${JSON.stringify(longestBatchMs)} ms, longest lock wait seen ${r.longestLockWaitMs} ms (${lockWaitSamples} samples); ` +
        `${pendingKept} pending kept; audit:verify ${v.ok ? 'OK' : 'FAILED'}`,
    );
    log(
      `  ${loginsDuringPurge.name}: p50 ${loginsDuringPurge.p50} ms p99 ${loginsDuringPurge.p99} ms max ${loginsDuringPurge.max} ms, ` +
        `${loginsDuringPurge.errors} errors; p99 ÷ alone ${round(loginsDuringPurge.p99 / loginsAlone.p99, 2)}`,
    );
    return r;
  } finally {
    await db.close();
  }
}
