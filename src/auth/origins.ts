import type { Deps } from '../deps.ts';

// What CORS decisions read on every cross-origin request, cached per process so the steady state
// costs no database round trip (deps.authCaches.origins): the origins any service lists (preflights carry no credentials,
// so they can only be checked against that union) and, per service, its account and origins (for
// access tokens). Both are refreshed after CACHE_MS and dropped at once when this process changes
// a service; other instances see the change within CACHE_MS.

export const ORIGINS_CACHE_MS = 5_000;

export interface TokenService {
  accountSid: string;
  allowedOrigins: readonly string[];
}

/** The service an access token names: its account and allowed origins, or null when it is gone. */
export async function tokenService(deps: Deps, serviceSid: string): Promise<TokenService | null> {
  const c = deps.authCaches.origins;
  const now = Date.now();
  const hit = c.services.get(serviceSid);
  if (hit && hit.until > now) return hit.value;
  const row = await deps.prisma.service.findUnique({ where: { sid: serviceSid }, select: { accountSid: true, allowedOrigins: true } });
  if (c.services.size >= 10_000) c.services.clear();
  c.services.set(serviceSid, { value: row, until: now + ORIGINS_CACHE_MS });
  return row;
}

/** Every origin listed by any service (preflight answers). */
export async function listedOrigins(deps: Deps): Promise<ReadonlySet<string>> {
  const c = deps.authCaches.origins;
  const now = Date.now();
  if (c.listed && c.listed.until > now) return c.listed.value;
  const rows = await deps.prisma.$queryRaw<{ o: string }[]>`SELECT DISTINCT unnest("allowedOrigins") AS o FROM "Service"`;
  const value = new Set(rows.map((r) => r.o));
  c.listed = { value, until: now + ORIGINS_CACHE_MS };
  return value;
}

/** A service was created, changed or deleted in this process: forget what was cached about it. */
export function serviceChanged(deps: Deps, serviceSid?: string): void {
  const c = deps.authCaches.origins;
  c.listed = undefined;
  if (serviceSid) c.services.delete(serviceSid);
  else c.services.clear();
}
