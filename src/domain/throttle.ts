/**
 * Guessing throttle per factor (docs/security.md "Guessing throttle"): the first FREE_FAILURES consecutive wrong codes cost
 * nothing (typos), then each further one doubles the wait, capped at MAX_DELAY_S. A correct code
 * resets the streak. There is no permanent lock, so an attacker can delay a user by at most
 * MAX_DELAY_S, never lock them out.
 */
export const THROTTLE = {
  freeFailures: 5,
  baseDelayS: 1,
  maxDelayS: 900,
} as const;

/** Seconds to wait after the `streak`-th consecutive failure (0 while still free). */
export function throttleDelaySeconds(streak: number): number {
  const over = streak - THROTTLE.freeFailures;
  if (over <= 0) return 0;
  return Math.min(THROTTLE.maxDelayS, THROTTLE.baseDelayS * 2 ** (over - 1));
}

export function throttledUntil(streak: number, now: Date): Date | null {
  const s = throttleDelaySeconds(streak);
  return s === 0 ? null : new Date(now.getTime() + s * 1000);
}

/** Whole seconds until `until` (≥ 1), for `retryAfter`. */
export const retryAfterSeconds = (until: Date, now: Date) => Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
