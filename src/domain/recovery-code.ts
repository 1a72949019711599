// Recovery codes (a Verity extension): their format, normalisation and keyed hash. Pure functions.
import { createHmac, hkdfSync, randomInt } from 'node:crypto';

/**
 * Crockford's Base32 alphabet (https://www.crockford.com/base32.html): digits and letters
 * without I, L, O and U, so a code read aloud or copied from paper has no look-alikes.
 */
export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const RECOVERY_CODES = {
  /** Codes per set. */
  count: 10,
  /** Characters per code: 10 × 5 bits = 50 bits of entropy. */
  length: 10,
  /** Shown as two groups of five, `XXXXX-XXXXX`. */
  group: 5,
  /** Longer input is refused before anything is charged: no code is that long, even with separators. */
  maxInputLength: 64,
} as const;

/** Bits of entropy per code: log2(32) per character. */
export const RECOVERY_CODE_BITS = RECOVERY_CODES.length * Math.log2(CROCKFORD_ALPHABET.length);

/** One code, `XXXXX-XXXXX`: each character drawn uniformly from the alphabet by the CSPRNG. */
export function newRecoveryCode(): string {
  let s = '';
  for (let i = 0; i < RECOVERY_CODES.length; i++) {
    if (i > 0 && i % RECOVERY_CODES.group === 0) s += '-';
    s += CROCKFORD_ALPHABET[randomInt(CROCKFORD_ALPHABET.length)];
  }
  return s;
}

/** A set of distinct codes (a repeat among 2^50 is vanishingly rare, but a set must never hold one twice). */
export function newRecoveryCodeSet(): string[] {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODES.count) codes.add(newRecoveryCode());
  return [...codes];
}

/**
 * What a user typed → the canonical 10 characters, or null when it cannot be a code. Crockford's
 * decoding rules: case-insensitive, I and L read as 1, O as 0; dashes and spaces (hyphenation
 * for readability) are ignored.
 */
export function normalizeRecoveryCode(input: string): string | null {
  const s = input.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (s.length !== RECOVERY_CODES.length) return null;
  for (const c of s) if (!CROCKFORD_ALPHABET.includes(c)) return null;
  return s;
}

/** The recovery-code HMAC key, derived (HKDF, RFC 5869) from the stable fingerprint master so no key serves two purposes. */
export function deriveRecoveryCodeKey(fingerprintKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', fingerprintKey, new Uint8Array(0), 'verity-recovery-code', 32));
}

/**
 * The stored form of a code: HMAC-SHA256(key, entitySid ‖ code), hex. A keyed hash rather than a
 * slow one: each code carries 50 random bits and guessing online is throttled per entity, so a
 * slow hash adds nothing there; offline, a database dump holds the key only encrypted under the
 * keyring (VERITY_ENCRYPTION_KEYS, never in the database), so the hashes cannot be brute-forced at
 * all, which no work factor achieves for 50 bits. Binding the entity SID makes a hash useless on any other entity.
 */
export function hashRecoveryCode(key: Uint8Array, entitySid: string, canonicalCode: string): string {
  return createHmac('sha256', key).update(`${entitySid}\0${canonicalCode}`, 'utf8').digest('hex');
}
