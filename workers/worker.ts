// `npm run worker`: job workers as their own process (production). Stateless: run as many as you
// like; BullMQ hands each job to one of them. Job data is SIDs only.
import { ConfigError, loadConfig } from '../src/config.ts';
import { openRuntime } from '../src/runtime.ts';
import { KeyConfigError } from '../src/infra/keys.ts';
import { serveMetrics } from '../src/observability/metrics-server.ts';
import { tracing } from '../src/observability/tracing.ts';

let runtime;
try {
  const config = loadConfig();
  if (!config.redisUrl) {
    console.error('npm run worker needs REDIS_URL: in embedded mode the server runs the workers itself.');
    process.exit(2);
  }
  runtime = await openRuntime(config);
} catch (e) {
  if (e instanceof ConfigError || e instanceof KeyConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
const { logger } = runtime.deps;
await runtime.startWorkers();
const metrics =
  runtime.deps.config.workerMetricsPort === undefined ? undefined : await serveMetrics(runtime.deps, runtime.deps.config.workerMetricsPort);
logger.info({ metricsPort: metrics?.port }, 'Verity worker started');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'worker shutting down');
  await metrics?.close();
  await runtime!.close(); // waits for running jobs, then closes Redis and the database
  await tracing()?.shutdown(); // exports the spans still buffered
  logger.info('worker stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
