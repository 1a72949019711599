// `tsx bench/expiry-split.ts`: where the bulk expiry time goes — the batched UPDATE alone
// (expireOverdueBatch, 1,000 rows per statement) versus the whole reconciliation (the same UPDATE
// plus one awaited event publish per expired challenge). PostgreSQL + Redis, own database and prefix.
import { expireOverdueBatch } from '../src/db/challenge-store.ts';
import { reconcileExpiry } from '../src/services/challenge-expiry.ts';
import { insertPending } from './scenarios/expiry.ts';
import { withScratchRuntime } from './scratch-runtime.ts';

await withScratchRuntime('split', async ({ runtime, seeded }) => {
  const { prisma } = runtime.db;
  const n = 10_000;
  await insertPending(prisma, seeded, n, new Date(Date.now() - 1000));
  let t = performance.now();
  let done = 0;
  while (done < n) done += (await expireOverdueBatch(prisma, new Date(), 1000)).length;
  const updateOnly = performance.now() - t;
  await insertPending(prisma, seeded, n, new Date(Date.now() - 1000));
  t = performance.now();
  const reconciled = await reconcileExpiry(runtime.deps, Number(process.env.BATCH ?? 5000));
  const full = performance.now() - t;
  console.log(
    JSON.stringify({
      challenges: n,
      updateOnly: { ms: Math.round(updateOnly), perSecond: Math.round((n / updateOnly) * 1000) },
      reconcileWithEvents: { expired: reconciled, ms: Math.round(full), perSecond: Math.round((n / full) * 1000) },
    }),
  );
});
