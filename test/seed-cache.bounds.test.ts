import { describe, expect, it } from 'vitest';
import { createSeedCache, type CachedSeed } from '../src/services/seed-cache.ts';

// Decrypted seeds in memory are bounded in count and age, and wiped when they leave (docs/security.md "Seeds in memory").
const entry = (b: number): CachedSeed => ({
  accountSid: 'AC1',
  serviceSid: 'VA1',
  entitySid: 'YE1',
  identity: 'user',
  secretKeyId: 'k1',
  secretCiphertext: new Uint8Array([b]),
  cfg: { alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1 },
  drift: 0,
  seed: new Uint8Array(20).fill(b),
});

describe('the seed cache holds at most `size` seeds, each at most `ttlS`, and zeroes what it drops', () => {
  it('the least recently used seed is evicted beyond the size, and its bytes are overwritten', () => {
    const cache = createSeedCache({ size: 2, ttlS: 300 });
    const [a, b, c] = [entry(1), entry(2), entry(3)];
    cache.set('YFa', a);
    cache.set('YFb', b);
    expect(cache.get('YFa')).toBe(a); // a is now the most recent
    cache.set('YFc', c);
    expect(cache.size).toBe(2);
    expect(cache.get('YFb')).toBeUndefined();
    expect(b.seed.every((x) => x === 0)).toBe(true);
    expect(a.seed.every((x) => x === 1)).toBe(true);
  });

  it('a seed older than the TTL is gone (counted from decryption, not from the last use) and zeroed', () => {
    let now = 1_000;
    const cache = createSeedCache({ size: 10, ttlS: 60, clock: () => now });
    const a = entry(7);
    cache.set('YFa', a);
    now = 60_000;
    expect(cache.get('YFa')).toBe(a);
    now = 61_001;
    expect(cache.get('YFa')).toBeUndefined();
    expect(a.seed.every((x) => x === 0)).toBe(true);
  });

  it('size 0 keeps nothing and wipes the seed handed to it', () => {
    const cache = createSeedCache({ size: 0, ttlS: 60 });
    const a = entry(9);
    cache.set('YFa', a);
    expect(cache.get('YFa')).toBeUndefined();
    expect(a.seed.every((x) => x === 0)).toBe(true);
  });
});
