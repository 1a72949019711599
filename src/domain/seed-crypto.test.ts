import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptSeed,
  deriveFingerprintKey,
  encryptSeed,
  fingerprintSeed,
  KeyringParseError,
  parseKeyring,
  SeedDecryptionError,
} from './seed-crypto.ts';

const k = () => randomBytes(32).toString('base64');
const K1 = k();
const K2 = k();
const seed = new Uint8Array(randomBytes(20));
const SID = 'YF0123456789abcdef0123456789abcdef';

function decryptError(fn: () => unknown): SeedDecryptionError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SeedDecryptionError) return e;
    throw e;
  }
  throw new Error('expected SeedDecryptionError');
}

describe('encryptSeed / decryptSeed', () => {
  const ring = parseKeyring(`k1:${K1}`);

  it('round-trips with layout iv(12) || ciphertext || tag(16) and a fresh IV each time', () => {
    const a = encryptSeed(ring, seed, SID);
    const b = encryptSeed(ring, seed, SID);
    expect(a.keyId).toBe('k1');
    expect(a.ciphertext.length).toBe(12 + seed.length + 16);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(decryptSeed(ring, a.keyId, a.ciphertext, SID)).toEqual(seed);
  });

  it('a ciphertext copied to another row (different AAD) fails authentication', () => {
    const { keyId, ciphertext } = encryptSeed(ring, seed, SID);
    const e = decryptError(() => decryptSeed(ring, keyId, ciphertext, 'YF' + 'f'.repeat(32)));
    expect(e.reason).toBe('authentication_failed');
  });

  it('any flipped bit (iv, body, tag) fails authentication', () => {
    const { keyId, ciphertext } = encryptSeed(ring, seed, SID);
    for (const i of [0, 11, 12, 12 + seed.length - 1, ciphertext.length - 1]) {
      const bad = Uint8Array.from(ciphertext);
      bad[i]! ^= 1;
      expect(decryptError(() => decryptSeed(ring, keyId, bad, SID)).reason).toBe('authentication_failed');
    }
    expect(decryptError(() => decryptSeed(ring, keyId, ciphertext.subarray(0, 27), SID)).reason).toBe('malformed');
  });

  it('unknown key id and wrong key are told apart, and messages carry no secret', () => {
    const { ciphertext } = encryptSeed(ring, seed, SID);
    const unknown = decryptError(() => decryptSeed(ring, 'gone', ciphertext, SID));
    expect(unknown.reason).toBe('unknown_key');
    expect(unknown.message).toContain('"gone"');
    const other = parseKeyring(`k1:${K2}`);
    const wrong = decryptError(() => decryptSeed(other, 'k1', ciphertext, SID));
    expect(wrong.reason).toBe('authentication_failed');
    for (const e of [unknown, wrong]) {
      for (const secret of [K1, K2, Buffer.from(seed).toString('hex'), Buffer.from(seed).toString('base64')]) {
        expect(e.message).not.toContain(secret);
      }
    }
  });

  it('rotation: after a new key is put first, old ciphertexts still decrypt and new ones use the new key', () => {
    const old = encryptSeed(parseKeyring(`k1:${K1}`), seed, SID);
    const rotated = parseKeyring(`k2:${K2}, k1:${K1}`);
    expect(rotated.primaryId).toBe('k2');
    expect(decryptSeed(rotated, old.keyId, old.ciphertext, SID)).toEqual(seed);
    const fresh = encryptSeed(rotated, seed, SID);
    expect(fresh.keyId).toBe('k2');
    expect(decryptSeed(rotated, 'k2', fresh.ciphertext, SID)).toEqual(seed);
    // The key id is bound in the AAD: relabelling a ciphertext with another id fails even if that key existed.
    expect(decryptError(() => decryptSeed(parseKeyring(`k2:${K1}`), 'k2', old.ciphertext, SID)).reason).toBe('authentication_failed');
  });
});

describe('parseKeyring', () => {
  it('parses ids and keys, first one encrypts, tolerates spaces around entries and unpadded base64', () => {
    const ring = parseKeyring(` a_1:${K1} ,B-2:${K2.replace(/=+$/, '')}`);
    expect(ring.primaryId).toBe('a_1');
    expect([...ring.keys.keys()]).toEqual(['a_1', 'B-2']);
    expect(Buffer.from(ring.keys.get('B-2')!).toString('base64')).toBe(K2);
  });

  const short = randomBytes(31).toString('base64');
  const long = randomBytes(33).toString('base64');
  it.each([
    ['', /empty/],
    ['   ', /empty/],
    [`k1=${K1}`, /entry #1: expected "id:base64key"/],
    [`k1:${K1},`, /entry #2: expected "id:base64key"/],
    [`:${K1}`, /entry #1: key id must match/],
    [`${'x'.repeat(33)}:${K1}`, /key id must match/],
    [`k.1:${K1}`, /key id must match/],
    [`k1:${K1},k1:${K2}`, /entry #2: duplicate key id "k1"/],
    [`k1:${short}`, /key "k1": expected 32 bytes after base64 decoding, got 31/],
    [`k1:${long}`, /got 33/],
    [`k1:${K1.slice(0, 10)}!${K1.slice(11)}`, /key "k1": not valid base64/],
    ['k1:', /got 0/],
  ])('rejects %j', (spec, msg) => {
    let err: unknown;
    try {
      parseKeyring(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyringParseError);
    const m = (err as Error).message;
    expect(m).toMatch(msg);
    for (const secret of [K1, K2, short, long]) expect(m).not.toContain(secret);
  });
});

describe('fingerprints', () => {
  const master = new Uint8Array(randomBytes(32));
  it('are deterministic for a key, differ across keys and seeds, and are 64 hex chars', () => {
    const fp = deriveFingerprintKey(master);
    expect(fp).toHaveLength(32);
    expect(Buffer.from(fp).equals(Buffer.from(master))).toBe(false);
    const a = fingerprintSeed(fp, seed);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintSeed(deriveFingerprintKey(Uint8Array.from(master)), Uint8Array.from(seed))).toBe(a);
    expect(fingerprintSeed(deriveFingerprintKey(new Uint8Array(randomBytes(32))), seed)).not.toBe(a);
    expect(
      fingerprintSeed(
        fp,
        Uint8Array.from(seed, (b, i) => (i === 0 ? b ^ 1 : b)),
      ),
    ).not.toBe(a);
  });
  it('refuses a short master key', () => expect(() => deriveFingerprintKey(new Uint8Array(16))).toThrow(RangeError));
});
