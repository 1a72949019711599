// `npm run audit:verify`: recomputes every account's audit hash chain (docs/operations.md "Audit trail") from
// the database the app uses (DATABASE_URL, or the embedded $VERITY_DATA_DIR — stop the embedded
// server first: PGlite is single-process). Reads in batches (VERITY_AUDIT_BATCH, default 1000), so
// memory stays constant. Exit 0 and "OK: N events in M chains", or exit 1 and the first row that
// does not verify. Read-only: it never migrates or writes. A chain shortened by `npm run purge`
// starts from its signed checkpoint: verifying it needs the keys the server uses
// (VERITY_ENCRYPTION_KEYS, or the embedded data dir's key file), read only when a checkpoint exists.
import { deriveCheckpointKey } from '../src/domain/audit.ts';
import { loadFingerprintKey, loadKeyring } from '../src/infra/keys.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';
import { withDatabase } from './with-database.ts';

await withDatabase(
  async ({ config, db }) => {
    const result = await verifyAuditTrail(db.prisma, {
      batchSize: Number(process.env.VERITY_AUDIT_BATCH ?? 1000),
      checkpointKey: async () => deriveCheckpointKey(await loadFingerprintKey(db.prisma, loadKeyring(config))),
    });
    if (result.ok) {
      console.log(`OK: ${result.events} events in ${result.chains} chains`);
    } else {
      const f = result.failure;
      console.log(
        `TAMPERED: chain ${f.accountSid} seq ${f.seq ?? '-'} id ${f.sid ?? '-'} (${f.kind}): ${f.reason}\n` +
          `(${result.events} events in ${result.chains} chains verified before it)`,
      );
      process.exitCode = 1;
    }
  },
  { migrate: false },
);
