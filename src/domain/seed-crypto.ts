// TOTP seeds at rest: AES-256-GCM with rotatable keys (VERITY_ENCRYPTION_KEYS = `id:base64key,...`, first encrypts).
// No error message ever contains key material or seed bytes.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export interface Keyring {
  /** Id of the key new ciphertexts use (the first in the spec). */
  readonly primaryId: string;
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

export class KeyringParseError extends Error {
  override readonly name = 'KeyringParseError';
}

export class SeedDecryptionError extends Error {
  override readonly name = 'SeedDecryptionError';
  constructor(
    readonly reason: 'unknown_key' | 'malformed' | 'authentication_failed',
    keyId: string,
  ) {
    super(
      reason === 'unknown_key'
        ? `seed encrypted with unknown key id "${keyId}" (was it removed from the keyring?)`
        : reason === 'malformed'
          ? `seed ciphertext is truncated (key id "${keyId}")`
          : `seed ciphertext failed authentication with key id "${keyId}" (tampered, wrong row, or wrong key)`,
    );
  }
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit random IVs
const TAG_BYTES = 16;

export function parseKeyring(spec: string): Keyring {
  const keys = new Map<string, Uint8Array>();
  let primaryId: string | undefined;
  const entries = spec.split(',').map((e) => e.trim());
  if (spec.trim() === '') throw new KeyringParseError('keyring is empty: expected "id:base64key[,id2:base64key…]"');
  entries.forEach((entry, i) => {
    const where = `keyring entry #${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new KeyringParseError(`${where}: expected "id:base64key"`);
    const id = entry.slice(0, colon);
    const b64 = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) throw new KeyringParseError(`${where}: key id must match [A-Za-z0-9_-]{1,32}`);
    if (keys.has(id)) throw new KeyringParseError(`${where}: duplicate key id "${id}"`);
    if (!BASE64.test(b64) || b64.length % 4 === 1) throw new KeyringParseError(`key "${id}": not valid base64`);
    const key = new Uint8Array(Buffer.from(b64, 'base64'));
    if (key.length !== 32) throw new KeyringParseError(`key "${id}": expected 32 bytes after base64 decoding, got ${key.length}`);
    keys.set(id, key);
    primaryId ??= id;
  });
  return { primaryId: primaryId!, keys };
}

// The row binding goes into the GCM AAD: a ciphertext copied to another factor no longer authenticates.
// The key id is bound as well, and a version label separates this use from any other use of the same key.
const aadBytes = (keyId: string, aad: string) => Buffer.from(`verity:seed:v1\0${keyId}\0${aad}`, 'utf8');

/** AES-256-GCM, layout iv(12) || ciphertext || tag(16). `aad` should identify the row, e.g. the factor SID. */
export function encryptSeed(keyring: Keyring, seed: Uint8Array, aad: string): { keyId: string; ciphertext: Uint8Array } {
  const keyId = keyring.primaryId;
  const key = keyring.keys.get(keyId);
  if (!key) throw new KeyringParseError(`primary key "${keyId}" is missing from the keyring`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadBytes(keyId, aad));
  const body = Buffer.concat([cipher.update(seed), cipher.final()]);
  return { keyId, ciphertext: new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()])) };
}

export function decryptSeed(keyring: Keyring, keyId: string, ciphertext: Uint8Array, aad: string): Uint8Array {
  const key = keyring.keys.get(keyId);
  if (!key) throw new SeedDecryptionError('unknown_key', keyId);
  if (ciphertext.length < IV_BYTES + TAG_BYTES) throw new SeedDecryptionError('malformed', keyId);
  const ct = Buffer.from(ciphertext);
  const decipher = createDecipheriv('aes-256-gcm', key, ct.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aadBytes(keyId, aad));
  decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(ct.subarray(IV_BYTES, ct.length - TAG_BYTES)), decipher.final()]));
  } catch {
    throw new SeedDecryptionError('authentication_failed', keyId);
  }
}

/**
 * Fingerprints let the service spot "same binding as an existing factor" (Twilio 60317) without decrypting every
 * seed. They must survive key rotation, so the fingerprint key is NOT tied to "the first key" (that one changes on
 * every rotation). The caller passes an explicit, stable master key — e.g. a dedicated keyring entry that operators
 * never remove — and derives the HMAC key with deriveFingerprintKey (HKDF, RFC 5869) so the same bytes are never used
 * both as an AES key and as an HMAC key. Changing that master key means recomputing every stored fingerprint.
 */
export function deriveFingerprintKey(masterKey: Uint8Array): Uint8Array {
  if (masterKey.length < 32) throw new RangeError('fingerprint master key must be at least 32 bytes');
  return new Uint8Array(hkdfSync('sha256', masterKey, new Uint8Array(0), 'verity-seed-fingerprint', 32));
}

/** Keyed HMAC-SHA256 (hex): unlike a plain hash it cannot be brute-forced offline from a database dump. */
export function fingerprintSeed(fpKey: Uint8Array, seed: Uint8Array): string {
  return createHmac('sha256', fpKey).update(seed).digest('hex');
}
