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

/**
 * The operator token as a page credential: `Bearer <token>`, or HTTP Basic with any user name and
 * the token as password (RFC 7617 §2) so a browser's own prompt can open the page. Constant time.
 */
export function isOperator(config: Pick<Config, 'adminToken'>, header: string | null | undefined): boolean {
  if (!config.adminToken || !header) return false;
  const bearer = header.match(/^\s*bearer\s+(\S+)\s*$/i);
  const basic = header.match(/^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  let presented: string | undefined = bearer?.[1];
  if (basic) {
    const pair = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = pair.indexOf(':'); // RFC 7617 §2: the user-id cannot contain a colon; the password may
    if (colon !== -1) presented = pair.slice(colon + 1);
  }
  return presented !== undefined && timingSafeEqual(digest(presented), digest(config.adminToken));
}
