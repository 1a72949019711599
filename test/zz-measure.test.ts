import { it } from 'vitest';
import { pino } from 'pino';
import { startTestApp } from './support/app.ts';
import { createLogger } from '../src/logger.ts';
import { logContextFields } from '../src/observability/log-context.ts';

it('measure', async () => {
  const sink = { write: (_s: string) => {} };
  const loggers = {
    ours: createLogger('info', sink),
    noRedact: pino({ level: 'info', mixin: logContextFields }, sink),
    silent: createLogger('silent', sink),
  };
  const t = await startTestApp({}, { logger: loggers.ours });
  const a = await t.newAccount();
  const body = JSON.stringify({ query: '{ viewer { sid } }' });
  const req = () => t.app.fetch('http://x/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: a.auth }, body });
  // Swap the logger the app writes through (deps is the object the plugin closed over).
  for (let round = 0; round < 2; round++) {
    for (const [label, l] of Object.entries(loggers)) {
      (t.deps as { logger: unknown }).logger = l;
      for (let i = 0; i < 200; i++) await req();
      const N = 1500;
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await req();
      console.log(`${label}: ${((performance.now() - t0) / N).toFixed(3)} ms/request`);
    }
  }
  await t.close();
}, 600_000);
