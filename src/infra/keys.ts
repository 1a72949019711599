import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { PrismaClient } from '../db/client.ts';
import { decryptSeed, encryptSeed, parseKeyring, type Keyring } from '../domain/seed-crypto.ts';
import { Prisma } from '../generated/prisma/client.ts';
import { rewriteWebhookSecret, webhookSecretsNotUnder } from '../db/webhook-store.ts';
import { webhookSecretAad } from '../domain/webhook.ts';
import { countFactorsNotUnder, factorSeedsNotUnder, rewriteFactorSeeds } from '../db/factor-store.ts';

export class KeyConfigError extends Error {
  override readonly name = 'KeyConfigError';
}

export const KEY_FILE = 'encryption-keys';

/** `id:base64key` with a fresh 256-bit key: what an operator puts in VERITY_ENCRYPTION_KEYS. */
export const newKeySpec = (id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`) =>
  `${id}:${randomBytes(32).toString('base64')}`;

/**
 * The seed keyring: VERITY_ENCRYPTION_KEYS when set; in embedded mode a key generated once into
 * the data dir (mode 0600); in production without keys, refuse to start — a generated key there
 * would be lost with the container and every seed with it.
 */
export function loadKeyring(config: Config): Keyring {
  try {
    if (config.encryptionKeys) return parseKeyring(config.encryptionKeys);
    if (!config.embedded) {
      throw new KeyConfigError(
        'VERITY_ENCRYPTION_KEYS is required with DATABASE_URL (seeds are encrypted at rest). Generate a key with:\n' +
          `  node -e "console.log('k1:' + require('crypto').randomBytes(32).toString('base64'))"`,
      );
    }
    const file = join(config.dataDir, KEY_FILE);
    if (!existsSync(file)) {
      mkdirSync(config.dataDir, { recursive: true });
      writeFileSync(file, newKeySpec('local1') + '\n', { mode: 0o600, flag: 'wx' });
    }
    chmodSync(file, 0o600);
    return parseKeyring(readFileSync(file, 'utf8').trim());
  } catch (e) {
    if (e instanceof KeyConfigError) throw e;
    throw new KeyConfigError(`Encryption keys: ${(e as Error).message}`);
  }
}

const FINGERPRINT_KEY = 'seed-fingerprint';
/** GCM additional data of a SystemKey row: binds the ciphertext to its name (keys:rotate re-encrypts with it). */
export const systemAad = (name: string) => `system:${name}`;

/**
 * The key that fingerprints seeds (duplicate detection, Twilio 60317) must never change, or old
 * fingerprints stop matching; so it is random, stored encrypted under the keyring, and rotated
 * with it rather than derived from whichever key is first today.
 */
export async function loadFingerprintKey(prisma: PrismaClient, keyring: Keyring): Promise<Uint8Array> {
  const read = () => prisma.systemKey.findUnique({ where: { name: FINGERPRINT_KEY } });
  let row = await read();
  if (!row) {
    const { keyId, ciphertext } = encryptSeed(keyring, randomBytes(32), systemAad(FINGERPRINT_KEY));
    try {
      await prisma.systemKey.create({ data: { name: FINGERPRINT_KEY, keyId, ciphertext: new Uint8Array(ciphertext) } });
    } catch (e) {
      // Another instance created it first: use theirs.
      if (!(e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002')) throw e;
    }
    row = await read();
  }
  return decryptSeed(keyring, row!.keyId, row!.ciphertext, systemAad(FINGERPRINT_KEY));
}

export interface RotationProgress {
  done: number;
  total: number;
}

/**
 * Re-encrypts every seed (and system key, and webhook signing key) not under the primary key, in batches, while the service
 * keeps serving: each row is rewritten only if it is still under the key we read it with, so a
 * concurrent change (always written under the primary key) is never overwritten. Resumable: it only ever looks at rows not yet rotated.
 */
export async function rotateSeeds(
  prisma: PrismaClient,
  keyring: Keyring,
  opts: { batchSize?: number; onProgress?: (p: RotationProgress) => void } = {},
): Promise<RotationProgress> {
  const primary = keyring.primaryId;
  const batchSize = opts.batchSize ?? 500;
  for (const row of await prisma.systemKey.findMany({ where: { keyId: { not: primary } } })) {
    const plain = decryptSeed(keyring, row.keyId, row.ciphertext, systemAad(row.name));
    const { keyId, ciphertext } = encryptSeed(keyring, plain, systemAad(row.name));
    await prisma.systemKey.updateMany({
      where: { name: row.name, keyId: row.keyId },
      data: { keyId, ciphertext: new Uint8Array(ciphertext) },
    });
  }
  // Webhook signing keys (auth tokens, whsec_ secrets): few rows, bound to their webhook SID.
  for (const w of await webhookSecretsNotUnder(prisma, primary)) {
    const aad = webhookSecretAad(w.sid);
    const plain = decryptSeed(keyring, w.secretKeyId, w.secretCiphertext, aad);
    const { keyId, ciphertext } = encryptSeed(keyring, plain, aad);
    plain.fill(0);
    await rewriteWebhookSecret(prisma, w.sid, w.secretKeyId, { secretKeyId: keyId, secretCiphertext: new Uint8Array(ciphertext) });
  }
  const total = await countFactorsNotUnder(prisma, primary);
  let done = 0;
  let after = '';
  for (;;) {
    const batch = await factorSeedsNotUnder(prisma, primary, after, batchSize);
    if (batch.length === 0) break;
    await rewriteFactorSeeds(
      prisma,
      batch.map((f) => {
        const seed = decryptSeed(keyring, f.secretKeyId, f.secretCiphertext, f.sid);
        const { keyId, ciphertext } = encryptSeed(keyring, seed, f.sid);
        seed.fill(0);
        return { sid: f.sid, fromKeyId: f.secretKeyId, keyId, ciphertext: new Uint8Array(ciphertext) };
      }),
    );
    done += batch.length;
    after = batch.at(-1)!.sid;
    opts.onProgress?.({ done, total: Math.max(total, done) });
  }
  return { done, total: Math.max(total, done) };
}
