import { describe, expect, it } from 'vitest';
import { findConsecutivePair, observedDrift } from './resync.ts';
import { DEFAULT_TOTP_CONFIG, generateCode, generateSeed, verifyCode, type TotpConfig } from './totp.ts';

const cfg: TotpConfig = DEFAULT_TOTP_CONFIG;
const seed = generateSeed();
const NOW = 1_800_000_015; // mid-step
const T = Math.floor(NOW / cfg.timeStep);
const codeAt = (step: number, c: TotpConfig = cfg) => generateCode(seed, c, step * c.timeStep);
const pairAt = (step: number): [string, string] => [codeAt(step), codeAt(step + 1)];

describe('findConsecutivePair (RFC 6238 §6 resynchronisation)', () => {
  it('finds a device 37 steps fast and one 80 steps slow, and reports the drift', () => {
    expect(findConsecutivePair(seed, pairAt(T + 37), cfg, NOW, 100)).toEqual({ found: true, step: T + 37, drift: 37 });
    expect(findConsecutivePair(seed, pairAt(T - 80), cfg, NOW, 100)).toEqual({ found: true, step: T - 80, drift: -80 });
  });

  it('reaches exactly ±window and no further', () => {
    expect(findConsecutivePair(seed, pairAt(T + 100), cfg, NOW, 100)).toMatchObject({ found: true, drift: 100 });
    expect(findConsecutivePair(seed, pairAt(T - 100), cfg, NOW, 100)).toMatchObject({ found: true, drift: -100 });
    expect(findConsecutivePair(seed, pairAt(T + 101), cfg, NOW, 100)).toEqual({ found: false, reason: 'mismatch' });
    expect(findConsecutivePair(seed, pairAt(T - 101), cfg, NOW, 100)).toEqual({ found: false, reason: 'mismatch' });
    expect(findConsecutivePair(seed, pairAt(T + 21), cfg, NOW, 20)).toEqual({ found: false, reason: 'mismatch' });
  });

  it('refuses codes that are not consecutive, or given in the wrong order', () => {
    expect(findConsecutivePair(seed, [codeAt(T + 5), codeAt(T + 7)], cfg, NOW, 100)).toEqual({ found: false, reason: 'mismatch' });
    expect(findConsecutivePair(seed, [codeAt(T + 6), codeAt(T + 5)], cfg, NOW, 100)).toEqual({ found: false, reason: 'mismatch' });
    expect(findConsecutivePair(seed, [codeAt(T + 5), codeAt(T + 5)], cfg, NOW, 100)).toEqual({ found: false, reason: 'mismatch' });
  });

  it('refuses a pair at or before the last used step: used codes stay used (RFC 6238 §5.2)', () => {
    expect(findConsecutivePair(seed, pairAt(T - 10), cfg, NOW, 100, T - 10)).toEqual({ found: false, reason: 'replayed' });
    expect(findConsecutivePair(seed, pairAt(T - 10), cfg, NOW, 100, BigInt(T - 9))).toEqual({ found: false, reason: 'replayed' });
    expect(findConsecutivePair(seed, pairAt(T - 10), cfg, NOW, 100, T - 11)).toMatchObject({ found: true, drift: -10 });
  });

  it('refuses malformed codes before any HMAC', () => {
    expect(findConsecutivePair(seed, ['12345', codeAt(T)], cfg, NOW, 100)).toEqual({ found: false, reason: 'malformed' });
    expect(findConsecutivePair(seed, [codeAt(T), '12a456'], cfg, NOW, 100)).toEqual({ found: false, reason: 'malformed' });
  });

  it('works at every code length, algorithm and time step Twilio allows', () => {
    for (const c of [
      { alg: 'sha256', codeLength: 8, timeStep: 60, skew: 0 },
      { alg: 'sha512', codeLength: 3, timeStep: 20, skew: 2 },
    ] as TotpConfig[]) {
      const t = Math.floor(NOW / c.timeStep);
      const r = findConsecutivePair(seed, [codeAt(t - 42, c), codeAt(t - 41, c)], c, NOW, 100);
      // 3-digit codes may collide elsewhere in the window; the pair nearest now wins, and it is never farther than ours.
      expect(r.found).toBe(true);
      if (r.found) expect(Math.abs(r.drift)).toBeLessThanOrEqual(42);
      if (c.codeLength === 8) expect(r).toEqual({ found: true, step: t - 42, drift: -42 });
    }
  });
});

describe('verifyCode centred on the recorded drift', () => {
  it('accepts a code 37 steps ahead only once the drift says so, with delta measured from the centre', () => {
    expect(verifyCode(seed, codeAt(T + 37), cfg, NOW, null, 0)).toEqual({ valid: false, reason: 'mismatch' });
    expect(verifyCode(seed, codeAt(T + 37), cfg, NOW, null, 37)).toEqual({ valid: true, timeStep: T + 37, delta: 0 });
    expect(verifyCode(seed, codeAt(T + 38), cfg, NOW, null, 37)).toEqual({ valid: true, timeStep: T + 38, delta: 1 });
    expect(verifyCode(seed, codeAt(T + 39), cfg, NOW, null, 37)).toEqual({ valid: false, reason: 'mismatch' });
    // …and the code of now itself no longer (the window moved with the device).
    expect(verifyCode(seed, codeAt(T), cfg, NOW, null, 37)).toEqual({ valid: false, reason: 'mismatch' });
  });
});

describe('observedDrift (RFC 6238 §6 "record the drift")', () => {
  it('moves one step towards the accepted code, never more, and stays within the window', () => {
    expect(observedDrift(0, 0, 100)).toBe(0);
    expect(observedDrift(0, 1, 100)).toBe(1);
    expect(observedDrift(5, -1, 100)).toBe(4);
    expect(observedDrift(5, -2, 100)).toBe(4);
    expect(observedDrift(5, 2, 100)).toBe(6);
    expect(observedDrift(100, 1, 100)).toBe(100);
    expect(observedDrift(-100, -1, 100)).toBe(-100);
  });
});
