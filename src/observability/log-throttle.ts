import type { Logger } from '../logger.ts';

/**
 * Warnings for one recurring condition (a Redis link retrying every few hundred ms during an
 * outage) logged at most once per `windowMs` per key, with how many were held back since — so an
 * outage shows as a steady, readable line instead of a flood that buries everything else.
 */
export function throttledWarn(logger: Logger, windowMs = 10_000) {
  const seen = new Map<string, { at: number; suppressed: number }>();
  return (key: string, obj: Record<string, unknown>, msg: string): void => {
    const now = Date.now();
    const s = seen.get(key);
    if (s && now - s.at < windowMs) {
      s.suppressed++;
      return;
    }
    logger.warn(s?.suppressed ? { ...obj, suppressed: s.suppressed } : obj, msg);
    seen.set(key, { at: now, suppressed: 0 });
  };
}
