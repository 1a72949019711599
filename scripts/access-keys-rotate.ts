// `npm run keys:rotate-access [-- --retire-old]`: a new signing key for access tokens. Tokens signed
// with older keys keep working until they expire (≤ 1 h), unless --retire-old deletes those keys —
// after a leak — which invalidates every outstanding access token (other instances drop them within
// 5 minutes; restart them to make it immediate).
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { rotateAccessTokenKey } from '../src/services/access-tokens.ts';
import { KeyConfigError, loadKeyring } from '../src/services/keys.ts';

try {
  const config = loadConfig();
  const keyring = loadKeyring(config);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const { kid, retired } = await rotateAccessTokenKey({ prisma: db.prisma, keyring, now: () => new Date() }, { retireOld: process.argv.includes('--retire-old') });
    console.log(`access tokens are now signed with key "${kid}"${retired ? `; ${retired} old key(s) retired: their tokens no longer work` : ''}`);
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
