import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Account } from '../generated/prisma/client.ts';
import { newSid, isSid, normalizeSid } from '../domain/sid.ts';
import { parseInput } from '../domain/validation.ts';
import { z } from 'zod';
import type { Deps, Principal } from './context.ts';
import { requireOperator, tenantOf } from './context.ts';
import { recaptureAuthToken } from './webhook-sealing.ts';
import { recordAudit } from './audit.ts';
import { authenticateAccessToken, looksLikeJwt } from './access-tokens.ts';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../domain/errors.ts';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** 32 random bytes: guessing one is 2^-256 (issue #2: "random ≥ 32-byte tokens"). */
const newAuthToken = () => randomBytes(32).toString('hex');

const safeEqualHex = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));

const createAccountInput = z.object({
  friendlyName: z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
});

export interface CreatedAccount {
  account: Account;
  /** Shown once; only its hash is stored. */
  authToken: string;
}

export async function createAccount(deps: Deps, principal: Principal, input: { friendlyName: string }): Promise<CreatedAccount> {
  requireOperator(principal);
  const { friendlyName } = parseInput(createAccountInput, input);
  return insertAccount(deps, friendlyName, 'operator');
}

async function insertAccount(deps: Deps, friendlyName: string, actor: 'operator' | 'system'): Promise<CreatedAccount> {
  const authToken = newAuthToken();
  const account = await deps.prisma.account.create({
    data: { sid: newSid('account'), friendlyName, authTokenHash: hashToken(authToken) },
  });
  await recordAudit(deps, { type: 'account.created', accountSid: account.sid, actor, details: { friendlyName } });
  return { account, authToken };
}

/**
 * Embedded first run: with no account at all, create one so a newcomer can start at once.
 * Returns it (with its token, to print once) or null when accounts already exist.
 */
export async function ensureFirstAccount(deps: Deps): Promise<CreatedAccount | null> {
  if ((await deps.prisma.account.count()) > 0) return null;
  return insertAccount(deps, 'First account', 'system');
}

export async function getAccount(deps: Deps, accountSid: string): Promise<Account> {
  const account = await deps.prisma.account.findUnique({ where: { sid: accountSid } });
  if (!account) throw new NotFoundError('Account', accountSid);
  return account;
}

// ------------------------------------------------------------------ authentication cache
// Every request authenticates, and on the login hot path the account lookup was one of six SQL
// round trips (bench/RESULTS.md). Successful Basic authentications are remembered per process for
// AUTH_CACHE_TTL_MS, keyed by a SHA-256 of the whole presented header (never the raw token).
// Only successes are cached: a wrong credential always takes the full, constant-work path.
// Consequence, by design and short: a token that stops being valid (rotation's grace period
// ending, an account deleted by hand) is still honoured for at most AUTH_CACHE_TTL_MS by a process
// that saw it succeed. rotateAuthToken clears this process's entries for the account.

export const AUTH_CACHE_TTL_MS = 5_000;
const AUTH_CACHE_MAX = 10_000;
const authCaches = new WeakMap<Deps, Map<string, { principal: Principal; until: number }>>();

/** Drops cached authentications (all, or one account's) in this process: call on token rotation. */
export function forgetCachedCredentials(deps: Deps, accountSid?: string): void {
  const cache = authCaches.get(deps);
  if (!cache) return;
  if (!accountSid) return cache.clear();
  for (const [k, v] of cache) if (v.principal.kind === 'account' && v.principal.accountSid === accountSid) cache.delete(k);
}

/**
 * Resolves an Authorization header to a principal. Wrong credentials of any kind give the same
 * answer (anonymous) so nothing about any tenant is revealed (API.md "Endpoints and authentication").
 */
export async function authenticate(deps: Deps, header: string | null | undefined): Promise<Principal> {
  if (!header || !/^\s*basic\s/i.test(header)) return authenticateUncached(deps, header);
  let cache = authCaches.get(deps);
  if (!cache) authCaches.set(deps, (cache = new Map()));
  const key = createHash('sha256').update(header).digest('base64');
  const now = deps.now().getTime();
  const hit = cache.get(key);
  if (hit && hit.until > now) return hit.principal;
  const principal = await authenticateUncached(deps, header);
  if (principal.kind === 'account') {
    if (cache.size >= AUTH_CACHE_MAX) cache.clear();
    // A grace-period token is never cached past the end of its grace.
    const until = Math.min(now + AUTH_CACHE_TTL_MS, principal.expiresAt?.getTime() ?? Infinity);
    cache.set(key, { principal, until });
  } else if (hit) {
    cache.delete(key);
  }
  return principal;
}

async function authenticateUncached(deps: Deps, header: string | null | undefined): Promise<Principal> {
  if (!header) return { kind: 'anonymous' };
  const [scheme, value = ''] = header.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) {
    const admin = deps.config.adminToken;
    if (admin && safeEqualHex(hashToken(value), hashToken(admin))) return { kind: 'operator' };
    // Not the operator token: only a signed access token can still pass (its signature decides,
    // never its shape), so an operator token can never be mistaken for one or vice versa.
    if (looksLikeJwt(value)) return authenticateAccessToken(deps, value);
    return { kind: 'anonymous' };
  }
  if (!/^basic$/i.test(scheme ?? '')) return { kind: 'anonymous' };
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'anonymous' };
  const sid = decoded.slice(0, colon);
  const token = decoded.slice(colon + 1);
  if (!isSid('account', sid)) return { kind: 'anonymous' };
  const account = await deps.prisma.account.findUnique({
    where: { sid: sid.slice(0, 2) + sid.slice(2).toLowerCase() },
    select: { sid: true, authTokenHash: true, previousAuthTokenHash: true, previousTokenValidUntil: true },
  });
  if (!account) {
    hashToken(token); // same work as a real check: response time says nothing about existence
    return { kind: 'anonymous' };
  }
  const presented = hashToken(token);
  // Constant-time comparison of hashes: no timing oracle on the token (issue #2).
  if (safeEqualHex(presented, account.authTokenHash)) return { kind: 'account', accountSid: account.sid, credential: token };
  if (
    account.previousAuthTokenHash &&
    account.previousTokenValidUntil &&
    account.previousTokenValidUntil > deps.now() &&
    safeEqualHex(presented, account.previousAuthTokenHash)
  ) {
    return { kind: 'account', accountSid: account.sid, expiresAt: account.previousTokenValidUntil };
  }
  return { kind: 'anonymous' };
}

// ------------------------------------------------------------------ token rotation

/** Grace periods up to 7 days; 0 (the default) cuts the old token off at once, as after a leak. */
const rotateInput = z.object({
  graceSeconds: z.number().int('must be an integer').min(0, 'must be 0–604800').max(604_800, 'must be 0–604800').nullish(),
  accountSid: z.string().nullish(),
});

export interface RotatedToken {
  account: Account;
  /** Shown once; only its hash is stored. */
  authToken: string;
  /** Until when the previous token still works (null: it stopped at once). */
  previousTokenValidUntil: Date | null;
}

/**
 * A new auth token for the caller's account (or, for the operator, any account). The old one keeps
 * working until `previousTokenValidUntil`, so clients can roll over without downtime. The update is
 * conditional on the token hash we read, so two concurrent rotations cannot both win. TWILIO-signing
 * webhooks re-capture the new token (Twilio signs with the raw token).
 */
export async function rotateAuthToken(
  deps: Deps,
  principal: Principal,
  input: { graceSeconds?: number | null; accountSid?: string | null } | null | undefined,
): Promise<RotatedToken> {
  const data = parseInput(rotateInput, input ?? {});
  let accountSid: string;
  if (principal.kind === 'operator') {
    if (!data.accountSid) throw new InvalidArgumentError('accountSid', 'the operator must name the account');
    accountSid = data.accountSid;
  } else {
    const t = tenantOf(deps, principal);
    // An account rotates only its own token; another SID reads as not found (tenancy).
    if (data.accountSid && data.accountSid.toLowerCase() !== t.accountSid.toLowerCase()) throw new NotFoundError('Account', data.accountSid);
    accountSid = t.accountSid;
  }
  if (!isSid('account', accountSid)) throw new NotFoundError('Account', accountSid);
  const account = await getAccount(deps, normalizeSid(accountSid));
  const now = deps.now();
  const grace = data.graceSeconds ?? 0;
  const previousTokenValidUntil = grace > 0 ? new Date(now.getTime() + grace * 1000) : null;
  const authToken = newAuthToken();
  const updated = await deps.prisma.account.updateMany({
    where: { sid: account.sid, authTokenHash: account.authTokenHash },
    data: {
      authTokenHash: hashToken(authToken),
      previousAuthTokenHash: previousTokenValidUntil ? account.authTokenHash : null,
      previousTokenValidUntil,
    },
  });
  if (updated.count === 0) throw new ConflictError('The token was rotated concurrently: retry with the newest token');
  forgetCachedCredentials(deps, account.sid);
  await recordAudit(deps, {
    type: 'account.token_rotated', accountSid: account.sid, actor: principal.kind === 'operator' ? 'operator' : 'account',
    details: { graceSeconds: grace, previousTokenValidUntil: previousTokenValidUntil?.toISOString() ?? null },
  });
  await recaptureAuthToken(deps, account.sid, authToken);
  return { account: await getAccount(deps, account.sid), authToken, previousTokenValidUntil };
}
