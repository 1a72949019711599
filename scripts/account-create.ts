// `npm run account:create -- --name "Acme"`: creates an account in the database the app uses
// (DATABASE_URL, or the embedded $VERITY_DATA_DIR — stop the embedded server first: PGlite is
// single-process) and prints its SID and auth token once. Production has no first account: this is
// how the first one (and any other) is made without the operator token and an HTTP call.
import { parseArgs } from 'node:util';
import { VerityError } from '../src/domain/errors.ts';
import { createLogger } from '../src/logger.ts';
import { createAccountAsOperator } from '../src/services/accounts.ts';
import { createAuditLog } from '../src/db/audit-store.ts';
import { credentialsBanner } from '../src/credentials-banner.ts';
import { withDatabase } from './with-database.ts';

const USAGE = 'usage: npm run account:create -- --name "Acme"   (the account\'s friendly name, 1–64 characters)';

function nameFromArgs(): string {
  try {
    const { values } = parseArgs({ options: { name: { type: 'string' } }, strict: true, allowPositionals: false });
    if (values.name !== undefined) return values.name;
    console.error(`account:create: --name is required\n${USAGE}`);
  } catch (e) {
    console.error(`account:create: ${(e as Error).message}\n${USAGE}`);
  }
  process.exit(2);
}

const name = nameFromArgs();
await withDatabase(async ({ config, db }) => {
  const logger = createLogger(config.logLevel);
  try {
    const { account, authToken } = await createAccountAsOperator(
      { prisma: db.prisma, now: () => new Date(), logger, auditLog: createAuditLog(db.prisma) },
      { friendlyName: name },
    );
    process.stdout.write(credentialsBanner(`Account "${account.friendlyName}" created.`, account.sid, authToken));
  } catch (e) {
    if (!(e instanceof VerityError)) throw e;
    console.error(`account:create: ${e.message}\n${USAGE}`);
    process.exitCode = 2;
  }
});
