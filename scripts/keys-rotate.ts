// `npm run keys:rotate`: re-encrypts every seed under the first key of VERITY_ENCRYPTION_KEYS, in
// batches, while the service keeps serving. Interrupt it at any time; run it again to resume.
// Rotation: put the new key first, keep the old ones after it, run this, then drop the old keys.
import cliProgress from 'cli-progress';
import { rotateSeeds } from '../src/infra/keys.ts';
import { withDatabase } from './with-database.ts';

await withDatabase(
  async ({ db, keyring }) => {
    const batchSize = Number(process.env.VERITY_ROTATE_BATCH ?? 500);
    const bar = new cliProgress.SingleBar(
      { format: 'rotating seeds [{bar}] {percentage}% {value}/{total}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 1000 },
      cliProgress.Presets.legacy,
    );
    let started = false;
    const result = await rotateSeeds(db.prisma, keyring!, {
      batchSize,
      onProgress: ({ done, total }) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.setTotal(total);
        bar.update(done);
      },
    });
    if (started) bar.stop();
    console.log(`rotated ${result.done} seed(s); every seed is now under key "${keyring!.primaryId}"`);
  },
  { keyring: true },
);
