// `npm run worker`: job workers as their own process. Tracing, when the OpenTelemetry variables ask
// for it, starts before anything it instruments is imported; the worker itself is in worker.ts.
import { startTracingIfRequested } from '../src/observability/tracing.ts';

await startTracingIfRequested('verity-worker');
await import('./worker.ts');
