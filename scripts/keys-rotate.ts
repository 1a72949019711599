// `npm run keys:rotate`: re-encrypts every seed under the first key of VERITY_ENCRYPTION_KEYS, in
// batches, while the service keeps serving. Interrupt it at any time; run it again to resume.
// Rotation: put the new key first, keep the old ones after it, run this, then drop the old keys.
import cliProgress from 'cli-progress';
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { KeyConfigError, loadKeyring, rotateSeeds } from '../src/services/keys.ts';

try {
  const config = loadConfig();
  const keyring = loadKeyring(config);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const batchSize = Number(process.env.VERITY_ROTATE_BATCH ?? 500);
  const bar = new cliProgress.SingleBar({ format: 'rotating seeds [{bar}] {percentage}% {value}/{total}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 1000 }, cliProgress.Presets.legacy);
  let started = false;
  try {
    const result = await rotateSeeds(db.prisma, keyring, {
      batchSize,
      onProgress: ({ done, total }) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.setTotal(total);
        bar.update(done);
      },
    });
    if (started) bar.stop();
    console.log(`rotated ${result.done} seed(s); every seed is now under key "${keyring.primaryId}"`);
  } finally {
    await db.close();
  }
} catch (e) {
  if (e instanceof ConfigError || e instanceof KeyConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
