import { ConfigError, loadConfig, type Config } from './config.ts';
import { openRuntime } from './runtime.ts';
import { createApp } from './server.ts';
import { listen } from './http.ts';
import { ensureFirstAccount } from './services/accounts.ts';
import { credentialsBanner } from './credentials-banner.ts';
import { KeyConfigError } from './infra/keys.ts';
import { tracing } from './observability/tracing.ts';

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
}

const config = configOrExit();
const runtime = await openRuntime(config).catch((e: unknown) => {
  if (e instanceof KeyConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
});
const { logger } = runtime.deps;

if (config.embedded) {
  const first = await ensureFirstAccount(runtime.deps);
  if (first) {
    // Printed once, to the terminal only (never the log): the token is stored as a hash.
    process.stdout.write(credentialsBanner('Verity created your first account.', first.account.sid, first.authToken));
  }
}

// Embedded mode runs the job workers here; with Redis they run in `npm run worker` unless
// VERITY_RUN_WORKERS=true.
if (config.runWorkers) await runtime.startWorkers();

const app = createApp(runtime.deps);
const http = await listen(app, { port: config.port, maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection, logger });
logger.info(
  { port: http.port, mode: config.embedded ? 'embedded' : 'postgres' },
  `Verity listening: GraphiQL at ${config.publicUrl}/graphql`,
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // Stop accepting, let in-flight requests finish, then close the database (PGlite must close cleanly).
  await http.close();
  await runtime.close();
  await tracing()?.shutdown(); // exports the spans still buffered
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
