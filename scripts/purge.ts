// `npm run purge -- --before 2026-09-01T00:00:00Z [--batch 5000]`: deletes what the retention rules
// allow (src/services/retention.ts) created before the date, from the database the app uses
// (DATABASE_URL, or the embedded $VERITY_DATA_DIR — stop the embedded server first: PGlite is
// single-process). Safe while the API serves traffic on PostgreSQL: each batch is one short
// transaction over rows no request uses. Interrupt it at any time; run it again to resume.
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { loadFingerprintKey } from '../src/infra/keys.ts';
import { DEFAULT_PURGE_BATCH, purge, type PurgePhase } from '../src/services/retention.ts';
import { withDatabase } from './with-database.ts';

const USAGE =
  'usage: npm run purge -- --before ISO_DATE [--batch N]   (e.g. --before 2026-09-01T00:00:00Z; N rows per transaction, default 5000)';

function argsOrExit(): { before: Date; batch: number } {
  try {
    const { values } = parseArgs({
      options: { before: { type: 'string' }, batch: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.before === undefined) throw new Error('--before is required');
    // A full ISO 8601 date or date-time only: Date.parse would also take "March 7" or "1".
    if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(values.before))
      throw new Error(`--before must be an ISO 8601 date, e.g. 2026-09-01 or 2026-09-01T00:00:00Z`);
    const before = new Date(values.before);
    if (Number.isNaN(before.getTime())) throw new Error('--before is not a valid date');
    const batch = values.batch === undefined ? DEFAULT_PURGE_BATCH : Number(values.batch);
    if (!Number.isInteger(batch) || batch < 1 || batch > 100_000) throw new Error('--batch must be an integer from 1 to 100000');
    return { before, batch };
  } catch (e) {
    console.error(`purge: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const LABEL: Record<PurgePhase, string> = {
  challenges: 'ended challenges',
  webhookDeliveries: 'webhook deliveries',
  auditEvents: 'audit events',
};

const { before, batch } = argsOrExit();
await withDatabase(
  async ({ db, keyring }) => {
    const fingerprintKey = await loadFingerprintKey(db.prisma, keyring!);
    // A bar on a terminal; elsewhere (cron, CI logs) one line per phase at the end.
    const tty = process.stderr.isTTY;
    const bar = new cliProgress.SingleBar(
      { format: '{phase} [{bar}] {percentage}% {value}/{total}', stream: process.stderr, hideCursor: true },
      cliProgress.Presets.legacy,
    );
    let phase: PurgePhase | null = null;
    const result = await purge(
      { prisma: db.prisma, now: () => new Date(), fingerprintKey },
      {
        before,
        batchSize: batch,
        onProgress: (p) => {
          if (!tty) return;
          if (p.phase !== phase) {
            if (phase) bar.stop();
            phase = p.phase;
            bar.start(p.total, p.done, { phase: LABEL[p.phase] });
          }
          bar.setTotal(p.total);
          bar.update(p.done, { phase: LABEL[p.phase] });
        },
      },
    );
    if (phase) bar.stop();
    console.log(
      `purged before ${before.toISOString()}: ${result.challenges} ended challenges, ${result.webhookDeliveries} webhook deliveries, ` +
        `${result.auditEvents} audit events (${result.checkpoints} new audit checkpoints)`,
    );
  },
  { keyring: true },
);
