// The operator scripts' common shell: configuration from the environment (and the keyring, before
// anything is opened, when the script needs it), the database the app uses, closed at the end. A
// configuration problem is printed as one message and exits 2, like the server's start-up.
import { ConfigError, loadConfig, type Config } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import type { Keyring } from '../src/domain/seed-crypto.ts';
import { KeyConfigError, loadKeyring } from '../src/infra/keys.ts';

export interface ScriptContext {
  config: Config;
  db: Database;
  /** Loaded (before the database opens: a missing key fails fast) only with `{ keyring: true }`. */
  keyring?: Keyring;
}

export async function withDatabase(
  run: (ctx: ScriptContext) => Promise<void>,
  opts: { keyring?: boolean; migrate?: boolean } = {},
): Promise<void> {
  try {
    const config = loadConfig();
    const keyring = opts.keyring ? loadKeyring(config) : undefined;
    const db = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      preparedStatements: config.dbPreparedStatements,
      ...(opts.migrate === false ? { migrate: false } : {}),
    });
    try {
      await run({ config, db, keyring });
    } finally {
      await db.close();
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof KeyConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
}
