import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Auth tokens are stored as SHA-256 hashes only; a lookup compares hashes. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** 32 random bytes: guessing one is 2^-256. */
export const newAuthToken = () => randomBytes(32).toString('hex');

/** Constant-time comparison of two hex digests: no timing oracle on the token. */
export const safeEqualHex = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
