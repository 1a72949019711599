// `npm run keys:rotate-access [-- --retire-old]`: a new signing key for access tokens. Tokens signed
// with older keys keep working until they expire (≤ 1 h), unless --retire-old deletes those keys —
// after a leak — which invalidates every outstanding access token (other instances drop them within
// 5 minutes; restart them to make it immediate).
import { rotateAccessTokenKey } from '../src/auth/access-tokens.ts';
import { createAuthCaches } from '../src/deps.ts';
import { withDatabase } from './with-database.ts';

await withDatabase(
  async ({ db, keyring }) => {
    const { kid, retired } = await rotateAccessTokenKey(
      { prisma: db.prisma, keyring: keyring!, now: () => new Date(), authCaches: createAuthCaches() },
      { retireOld: process.argv.includes('--retire-old') },
    );
    console.log(
      `access tokens are now signed with key "${kid}"${retired ? `; ${retired} old key(s) retired: their tokens no longer work` : ''}`,
    );
  },
  { keyring: true },
);
