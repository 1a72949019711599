import { LRUCache } from 'lru-cache';
import type { TotpConfig } from '../domain/totp.ts';

// Decrypted seeds of recently used factors, in this process's memory only, so a login can work
// out which time steps its code matches before it reaches the database and then do all of its
// writes in one statement (challenge-store openAndAttempt). The entry also holds what the seed was
// decrypted from (key id and ciphertext) and the TOTP config it was checked under: that statement
// only acts when the factor row still holds exactly these, so an update, a rotation to a new key
// or a deletion makes the entry stale at once, on every instance, without any invalidation
// message. Bounded in count and age (docs/security.md "Seeds in memory"): an evicted or expired
// entry's seed bytes are overwritten with zeros. Never logged, never serialised.

export interface CachedSeed {
  /** The factor's subjects (immutable for a factor): the audit content hashed before the statement names them. */
  accountSid: string;
  serviceSid: string;
  entitySid: string;
  identity: string;
  secretKeyId: string;
  secretCiphertext: Uint8Array;
  cfg: TotpConfig;
  /** The factor's drift as last seen (RFC 6238 §6): the window's centre; the statement checks it too. */
  drift: number;
  seed: Uint8Array;
}

export interface SeedCache {
  get(factorSid: string): CachedSeed | undefined;
  /** Keeps the entry; with the cache off (size 0) the seed is wiped at once instead, after the caller's synchronous use. */
  set(factorSid: string, entry: CachedSeed): void;
  delete(factorSid: string): void;
  readonly size: number;
}

/** `clock`: milliseconds for the entries' ages (tests); the process's monotonic clock by default. */
export function createSeedCache(o: { size: number; ttlS: number; clock?: () => number }): SeedCache {
  if (o.size === 0)
    return {
      get: () => undefined,
      set: (_sid, e) => void e.seed.fill(0),
      delete: () => {},
      size: 0,
    };
  const lru = new LRUCache<string, CachedSeed>({
    max: o.size,
    ttl: o.ttlS * 1000,
    // The age counts from decryption, not from the last use: a busy factor's seed is re-decrypted every ttl.
    updateAgeOnGet: false,
    dispose: (e) => void e.seed.fill(0),
    ...(o.clock ? { perf: { now: o.clock }, ttlResolution: 0 } : {}),
  });
  return {
    get: (sid) => lru.get(sid),
    set: (sid, e) => void lru.set(sid, e),
    delete: (sid) => void lru.delete(sid),
    get size() {
      return lru.size;
    },
  };
}
