// `npm start`: the API process. Tracing, when the OpenTelemetry variables ask for it, starts
// before anything it instruments is imported (pg, ioredis, node:http); the server itself is in api.ts.
import { startTracingIfRequested } from './observability/tracing.ts';

await startTracingIfRequested('verity-api');
await import('./api.ts');
