// A worker process that does one thing: drain overdue challenges with the real reconciliation
// service (`reconcileExpiry`), so a test can SIGKILL it mid-drain. It subscribes to its own event
// bus, the way a subscription client would, and prints one `expired <sid>` line per event, so the
// parent learns which rows this process transitioned (up to the kill).
//
// Environment: the usual Verity variables (DATABASE_URL, VERITY_ENCRYPTION_KEYS, …) plus
// DRAIN_ACCOUNT_SID (whose events to print) and DRAIN_BATCH (batch size, default 200).
import { loadConfig } from '../../src/config.ts';
import { openRuntime } from '../../src/runtime.ts';
import { reconcileExpiry } from '../../src/services/challenge-expiry.ts';

const accountSid = process.env.DRAIN_ACCOUNT_SID ?? '';
const batch = Number(process.env.DRAIN_BATCH ?? 200);
const runtime = await openRuntime(loadConfig());
const events = runtime.deps.events.subscribe(accountSid)[Symbol.asyncIterator]();
// next() registers the listener synchronously, before any event can be published.
const printed = (async () => {
  for (;;) {
    const r = await events.next();
    if (r.done) return;
    if (r.value.type === 'challenge.expired') process.stdout.write(`expired ${r.value.challengeSid}\n`);
  }
})();
process.stdout.write('drain started\n');
const total = await reconcileExpiry(runtime.deps, batch);
await events.return?.();
await printed;
process.stdout.write(`drain done ${total}\n`);
await runtime.close();
