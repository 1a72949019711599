import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/client.ts';
import { createLogger, type Logger } from './logger.ts';
import type { AppDeps } from './server.ts';
import { loadFingerprintKey, loadKeyring } from './services/keys.ts';

/** Everything a process (API or worker) opens from its config, and how to close it again. */
export interface Runtime {
  deps: AppDeps;
  db: Database;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  now?: () => Date;
  logger?: Logger;
  /** An already opened database (tests clone a migrated one). */
  db?: Database;
}

export async function openRuntime(config: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const keyring = loadKeyring(config); // before the database: a missing key fails fast
  const db = opts.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const deps: AppDeps = {
    config,
    prisma: db.prisma,
    logger,
    now: opts.now ?? (() => new Date()),
    keyring,
    fingerprintKey: await loadFingerprintKey(db.prisma, keyring),
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
