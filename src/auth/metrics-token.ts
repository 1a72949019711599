import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** `Bearer <operator token>` or `Bearer <metrics token>`; compared as hashes in constant time. */
export function canReadMetrics(config: Pick<Config, 'adminToken' | 'metricsToken'>, header: string | null | undefined): boolean {
  const m = header?.match(/^\s*bearer\s+(\S+)\s*$/i);
  if (!m) return false;
  const presented = digest(m[1]!);
  let ok = false;
  for (const token of [config.adminToken, config.metricsToken]) {
    // Both compared every time: which token matched leaves no timing trace.
    if (token && timingSafeEqual(presented, digest(token))) ok = true;
  }
  return ok;
}
