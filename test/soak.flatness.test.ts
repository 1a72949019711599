import { describe, expect, it } from 'vitest';
import { flatness, isFlat } from '../bench/flatness.ts';

/** A deterministic pseudo-random sequence in [0, 1) (the verdict must not depend on luck). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * RSS samples every 5 s for `minutes`, shaped like the API's: a floor that rises with `leakMbPerMin`,
 * plus garbage filling at a steady rate for 30–90 s before each collection drops it again
 * (`swingMb` at the top of a cycle), plus ± 2 MB of noise. Warm-up: the first minute climbs from 280 MB.
 */
function samples(minutes: number, leakMbPerMin: number, swingMb: number, seed = 7) {
  const rnd = lcg(seed);
  const out: { t: number; mb: number }[] = [];
  let cycleStart = 0;
  let cycleLen = 30 + rnd() * 60;
  for (let t = 0; t <= minutes * 60; t += 5) {
    if (t - cycleStart >= cycleLen) {
      cycleStart = t;
      cycleLen = 30 + rnd() * 60;
    }
    const warm = Math.min(1, t / 60) * 60;
    const garbage = ((t - cycleStart) / cycleLen) * swingMb;
    out.push({ t, mb: 280 + warm + (leakMbPerMin * t) / 60 + garbage + (rnd() - 0.5) * 4 });
  }
  return out;
}

describe('soak RSS verdict (post-GC floors)', () => {
  it('passes a plateau with a ± 30 MB GC sawtooth, whatever the phase', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const f = flatness(samples(30, 0, 60, seed), 30 * 60);
      expect(isFlat(f, 30 * 60), JSON.stringify(f)).toBe(true);
      expect(Math.abs(f.slopeMbPerMin)).toBeLessThan(0.5);
    }
  });

  it('fails a 2 MB/min leak hidden under the same sawtooth', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const f = flatness(samples(30, 2, 60, seed), 30 * 60);
      expect(isFlat(f, 30 * 60), JSON.stringify(f)).toBe(false);
      expect(f.slopeMbPerMin).toBeGreaterThan(1.5);
    }
  });

  it('fails a 2 MB/min leak over a 12-minute run too, and passes its plateau', () => {
    expect(isFlat(flatness(samples(12, 2, 60), 12 * 60), 12 * 60)).toBe(false);
    expect(isFlat(flatness(samples(12, 0, 60), 12 * 60), 12 * 60)).toBe(true);
  });

  it('fails a large step in the floor by growth, even in a run too short for a slope', () => {
    const xs = samples(4, 0, 30).map((p) => (p.t > 150 ? { ...p, mb: p.mb + 80 } : p));
    expect(isFlat(flatness(xs, 4 * 60), 4 * 60)).toBe(false);
  });
});
