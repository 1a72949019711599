import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/client.ts';
import { createLogger } from './logger.ts';
import type { AppDeps } from './server.ts';

/** Everything a process (API or worker) opens from its config, and how to close it again. */
export interface Runtime {
  deps: AppDeps;
  db: Database;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, overrides: { now?: () => Date } = {}): Promise<Runtime> {
  const logger = createLogger(config.logLevel);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const deps: AppDeps = {
    config,
    prisma: db.prisma,
    logger,
    now: overrides.now ?? (() => new Date()),
    ready: () => db.ping(),
  };
  return {
    deps,
    db,
    close: async () => {
      await db.close();
    },
  };
}
