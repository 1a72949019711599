import { describe, expect, it } from 'vitest';
import { THROTTLE, retryAfterSeconds, throttleDelaySeconds, throttledUntil } from './throttle.ts';

describe('guessing throttle', () => {
  it('is free for the first failures, then doubles, then caps', () => {
    const delays = Array.from({ length: 20 }, (_, i) => throttleDelaySeconds(i + 1));
    expect(delays.slice(0, THROTTLE.freeFailures)).toEqual([0, 0, 0, 0, 0]);
    expect(delays.slice(5, 10)).toEqual([1, 2, 4, 8, 16]);
    expect(Math.max(...delays)).toBe(THROTTLE.maxDelayS);
    expect(delays.at(-1)).toBe(THROTTLE.maxDelayS);
  });

  it('computes the instant and a whole-second retryAfter', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(throttledUntil(3, now)).toBeNull();
    const until = throttledUntil(7, now)!;
    expect(until.getTime() - now.getTime()).toBe(2000);
    expect(retryAfterSeconds(until, now)).toBe(2);
    expect(retryAfterSeconds(new Date(now.getTime() + 10), now)).toBe(1);
  });
});
