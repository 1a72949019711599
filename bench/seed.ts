// Seeding straight through Prisma (fast: thousands of verified factors in a few seconds). The rows
// are the ones the services would write: seeds encrypted under the keyring and bound to the factor
// SID, fingerprints under the stored fingerprint key. Enrolment through the API is measured
// separately (scenario c); here we only need a population to drive load against.
import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '../src/db/client.ts';
import { newSid } from '../src/domain/sid.ts';
import { encryptSeed, fingerprintSeed, type Keyring } from '../src/domain/seed-crypto.ts';
import { generateSeed } from '../src/domain/totp.ts';

export interface SeededFactor {
  sid: string;
  seed: Uint8Array;
  /** Its account's credentials, for factors of the extra accounts (else the main account's). */
  auth?: string;
}

export interface Seeded {
  accountSid: string;
  token: string;
  auth: string;
  serviceSid: string;
  /** Hot-path factors: VERIFIED, SHA1/6/30 s, skew 2 (so each gives several fresh steps per 30 s). */
  factors: SeededFactor[];
  /** An entity with `readChallenges` challenges spread over 5 factors (scenario d). */
  reader: { identity: string; entitySid: string };
  /** Factors of `accounts` further accounts (one service each), for the one-vs-many-accounts comparison. */
  otherAccounts: SeededFactor[];
  /** Where the expiry drain puts its challenges. */
  drain: { serviceSid: string; entitySid: string; identity: string; factorSid: string };
}

const ids = (prefix: string, i: number) => `${prefix}-${String(i).padStart(6, '0')}`;

export async function seed(
  prisma: PrismaClient,
  keyring: Keyring,
  fingerprintKey: Uint8Array,
  opts: {
    factors: number;
    readChallenges: number;
    accounts?: number;
    factorsPerAccount?: number;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<Seeded> {
  const main = await seedAccount(prisma, keyring, fingerprintKey, { name: 'Bench', factors: opts.factors, onProgress: opts.onProgress });
  const otherAccounts: SeededFactor[] = [];
  for (let a = 0; a < (opts.accounts ?? 0); a++) {
    const o = await seedAccount(prisma, keyring, fingerprintKey, { name: `Bench ${a + 1}`, factors: opts.factorsPerAccount ?? 100 });
    otherAccounts.push(...o.factors.map((f) => ({ ...f, auth: o.auth })));
  }
  const { accountSid, serviceSid, factorRow } = main;

  // Reader: 5 factors, challenges spread over them, one millisecond apart (distinct keyset positions).
  const reader = { sid: newSid('entity'), identity: 'bench-reader-000001' };
  await prisma.entity.create({ data: { sid: reader.sid, accountSid, serviceSid, identity: reader.identity } });
  const readerFactors = Array.from({ length: 5 }, () =>
    factorRow(newSid('factor'), reader.sid, reader.identity, serviceSid, generateSeed()),
  );
  await prisma.factor.createMany({ data: readerFactors });
  const t0 = Date.now() - 3_600_000;
  await prisma.challenge.createMany({
    data: Array.from({ length: opts.readChallenges }, (_, k) => ({
      sid: newSid('challenge'),
      accountSid,
      serviceSid,
      entitySid: reader.sid,
      identity: reader.identity,
      factorSid: readerFactors[k % 5]!.sid,
      status: 'approved' as const,
      expirationDate: new Date(t0 + k + 300_000),
      dateCreated: new Date(t0 + k),
      dateUpdated: new Date(t0 + k),
      dateResponded: new Date(t0 + k),
    })),
  });

  const drainServiceSid = newSid('service');
  await prisma.service.create({ data: { sid: drainServiceSid, accountSid, friendlyName: 'Bench drain' } });
  const drainEntity = { sid: newSid('entity'), identity: 'bench-drain-000001' };
  await prisma.entity.create({ data: { sid: drainEntity.sid, accountSid, serviceSid: drainServiceSid, identity: drainEntity.identity } });
  const drainFactor = factorRow(newSid('factor'), drainEntity.sid, drainEntity.identity, drainServiceSid, generateSeed());
  await prisma.factor.create({ data: drainFactor });

  return {
    accountSid,
    token: main.token,
    auth: main.auth,
    serviceSid,
    factors: main.factors,
    otherAccounts,
    reader: { identity: reader.identity, entitySid: reader.sid },
    drain: { serviceSid: drainServiceSid, entitySid: drainEntity.sid, identity: drainEntity.identity, factorSid: drainFactor.sid },
  };
}

/** One account with one service and `factors` verified factors, each on its own entity. */
async function seedAccount(
  prisma: PrismaClient,
  keyring: Keyring,
  fingerprintKey: Uint8Array,
  opts: { name: string; factors: number; onProgress?: (done: number, total: number) => void },
) {
  const token = randomBytes(32).toString('hex');
  const accountSid = newSid('account');
  await prisma.account.create({
    data: { sid: accountSid, friendlyName: opts.name, authTokenHash: createHash('sha256').update(token).digest('hex') },
  });
  const serviceSid = newSid('service');
  await prisma.service.create({ data: { sid: serviceSid, accountSid, friendlyName: opts.name } });

  const factorRow = (sid: string, entitySid: string, identity: string, svc: string, seedBytes: Uint8Array) => {
    const { keyId, ciphertext } = encryptSeed(keyring, seedBytes, sid);
    return {
      sid,
      accountSid,
      serviceSid: svc,
      entitySid,
      identity,
      friendlyName: 'Bench phone',
      status: 'verified' as const,
      skew: 2,
      secretCiphertext: new Uint8Array(ciphertext),
      secretKeyId: keyId,
      secretFingerprint: fingerprintSeed(fingerprintKey, seedBytes),
    };
  };

  const factors: SeededFactor[] = [];
  const chunk = 1000;
  for (let from = 0; from < opts.factors; from += chunk) {
    const n = Math.min(chunk, opts.factors - from);
    const entities = Array.from({ length: n }, (_, k) => ({
      sid: newSid('entity'),
      accountSid,
      serviceSid,
      identity: ids('bench-user', from + k),
    }));
    await prisma.entity.createMany({ data: entities });
    const rows = entities.map((e) => {
      const f = { sid: newSid('factor'), seed: generateSeed() };
      factors.push(f);
      return factorRow(f.sid, e.sid, e.identity, serviceSid, f.seed);
    });
    await prisma.factor.createMany({ data: rows });
    opts.onProgress?.(from + n, opts.factors);
  }

  return { accountSid, token, auth: `Basic ${Buffer.from(`${accountSid}:${token}`).toString('base64')}`, serviceSid, factors, factorRow };
}
