import { createHash } from 'node:crypto';
import { isSid } from '../domain/sid.ts';
import type { Deps, Principal } from '../deps.ts';
import { findAccountCredentials } from '../db/account-store.ts';
import { verifyAccessToken, looksLikeJwt } from './access-tokens.ts';
import { hashToken, safeEqualHex } from './tokens.ts';

// ------------------------------------------------------------------ authentication cache
// Every request authenticates, and on the login hot path the account lookup was one of six SQL
// round trips (bench/RESULTS.md). Successful Basic authentications are remembered per process
// (deps.authCaches.credentials) for AUTH_CACHE_TTL_MS, keyed by a SHA-256 of the whole presented
// header (never the raw token). Only successes are cached: a wrong credential always takes the
// full, constant-work path. Consequence, by design and short: a token that stops being valid
// (rotation's grace period ending, an account deleted by hand) is still honoured for at most
// AUTH_CACHE_TTL_MS by a process that saw it succeed. Rotation clears this process's entries for
// the account (forgetCachedCredentials).

export const AUTH_CACHE_TTL_MS = 5_000;
const AUTH_CACHE_MAX = 10_000;

/** Drops cached authentications (all, or one account's) in this process: call on token rotation. */
export function forgetCachedCredentials(deps: Pick<Deps, 'authCaches'>, accountSid?: string): void {
  const cache = deps.authCaches.credentials;
  if (!accountSid) return cache.clear();
  for (const [k, v] of cache) if (v.principal.kind === 'account' && v.principal.accountSid === accountSid) cache.delete(k);
}

/**
 * Resolves an Authorization header to a principal, without any rate limit (src/auth/index.ts adds
 * them). Wrong credentials of any kind give the same answer (anonymous) so nothing about any
 * tenant is revealed (the public contract, "Endpoints and authentication").
 */
export async function verifyCredentials(deps: Deps, header: string | null | undefined): Promise<Principal> {
  if (!header || !/^\s*basic\s/i.test(header)) return verifyUncached(deps, header);
  const cache = deps.authCaches.credentials;
  const key = createHash('sha256').update(header).digest('base64');
  const now = deps.now().getTime();
  const hit = cache.get(key);
  if (hit && hit.until > now) return hit.principal;
  const principal = await verifyUncached(deps, header);
  if (principal.kind === 'account') {
    if (cache.size >= AUTH_CACHE_MAX) cache.clear();
    // A grace-period token is never cached past the end of its grace.
    const until = Math.min(now + AUTH_CACHE_TTL_MS, principal.graceUntil?.getTime() ?? Infinity);
    cache.set(key, { principal, until });
  } else if (hit) {
    cache.delete(key);
  }
  return principal;
}

async function verifyUncached(deps: Deps, header: string | null | undefined): Promise<Principal> {
  if (!header) return { kind: 'anonymous' };
  const [scheme, value = ''] = header.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) {
    const admin = deps.config.adminToken;
    if (admin && safeEqualHex(hashToken(value), hashToken(admin))) return { kind: 'operator' };
    // Not the operator token: only a signed access token can still pass (its signature decides,
    // never its shape), so an operator token can never be mistaken for one or vice versa.
    if (looksLikeJwt(value)) return verifyAccessToken(deps, value);
    return { kind: 'anonymous' };
  }
  if (!/^basic$/i.test(scheme ?? '')) return { kind: 'anonymous' };
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'anonymous' };
  const sid = decoded.slice(0, colon);
  const token = decoded.slice(colon + 1);
  if (!isSid('account', sid)) return { kind: 'anonymous' };
  const account = await findAccountCredentials(deps.prisma, sid.slice(0, 2) + sid.slice(2).toLowerCase());
  if (!account) {
    hashToken(token); // same work as a real check: response time says nothing about existence
    return { kind: 'anonymous' };
  }
  const presented = hashToken(token);
  // Constant-time comparison of hashes: no timing oracle on the token.
  if (safeEqualHex(presented, account.authTokenHash)) return { kind: 'account', accountSid: account.sid, credential: token };
  if (
    account.previousAuthTokenHash &&
    account.previousTokenValidUntil &&
    account.previousTokenValidUntil > deps.now() &&
    safeEqualHex(presented, account.previousAuthTokenHash)
  ) {
    return { kind: 'account', accountSid: account.sid, graceUntil: account.previousTokenValidUntil };
  }
  return { kind: 'anonymous' };
}
