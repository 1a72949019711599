import type { Account } from '../generated/prisma/client.ts';
import { newSid, isSid, normalizeSid } from '../domain/sid.ts';
import { parseInput } from '../domain/validation.ts';
import { z } from 'zod';
import type { Deps, Principal } from '../deps.ts';
import { requireOperator, tenantOf } from './context.ts';
import { recaptureAuthToken } from './webhook-sealing.ts';
import { recordAudit, type AuditDeps } from './audit.ts';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../domain/errors.ts';
import { anyAccountExists, findAccount, insertAccount as insertAccountRow, replaceTokenHash } from '../db/account-store.ts';
import { hashToken, newAuthToken } from '../auth/tokens.ts';
import { forgetCachedCredentials, requireManagement } from '../auth/index.ts';

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
  requireManagement(principal);
  return createAccountAsOperator(deps, input);
}

/** The operator's own path, with no request to authorise (`npm run account:create`): same rules and audit event. */
export async function createAccountAsOperator(deps: AuditDeps, input: { friendlyName: string }): Promise<CreatedAccount> {
  const { friendlyName } = parseInput(createAccountInput, input);
  return insertAccount(deps, friendlyName, 'operator');
}

async function insertAccount(deps: AuditDeps, friendlyName: string, actor: 'operator' | 'system'): Promise<CreatedAccount> {
  const authToken = newAuthToken();
  const account = await insertAccountRow(deps.prisma, { sid: newSid('account'), friendlyName, authTokenHash: hashToken(authToken) });
  await recordAudit(deps, { type: 'account.created', accountSid: account.sid, actor, details: { friendlyName } });
  return { account, authToken };
}

/**
 * Embedded first run: with no account at all, create one so a newcomer can start at once.
 * Returns it (with its token, to print once) or null when accounts already exist.
 */
export async function ensureFirstAccount(deps: Deps): Promise<CreatedAccount | null> {
  if (await anyAccountExists(deps.prisma)) return null;
  return insertAccount(deps, 'First account', 'system');
}

export async function getAccount(deps: Deps, accountSid: string): Promise<Account> {
  const account = await findAccount(deps.prisma, accountSid);
  if (!account) throw new NotFoundError('Account', accountSid);
  return account;
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
  requireManagement(principal);
  const data = parseInput(rotateInput, input ?? {});
  let accountSid: string;
  if (principal.kind === 'operator') {
    if (!data.accountSid) throw new InvalidArgumentError('accountSid', 'the operator must name the account');
    accountSid = data.accountSid;
  } else {
    const t = tenantOf(deps, principal);
    // An account rotates only its own token; another SID reads as not found (tenancy).
    if (data.accountSid && data.accountSid.toLowerCase() !== t.accountSid.toLowerCase())
      throw new NotFoundError('Account', data.accountSid);
    accountSid = t.accountSid;
  }
  if (!isSid('account', accountSid)) throw new NotFoundError('Account', accountSid);
  const account = await getAccount(deps, normalizeSid(accountSid));
  const now = deps.now();
  const grace = data.graceSeconds ?? 0;
  const previousTokenValidUntil = grace > 0 ? new Date(now.getTime() + grace * 1000) : null;
  const authToken = newAuthToken();
  const replaced = await replaceTokenHash(deps.prisma, account.sid, account.authTokenHash, {
    authTokenHash: hashToken(authToken),
    previousAuthTokenHash: previousTokenValidUntil ? account.authTokenHash : null,
    previousTokenValidUntil,
  });
  if (!replaced) throw new ConflictError('The token was rotated concurrently: retry with the newest token');
  forgetCachedCredentials(deps, account.sid);
  await recordAudit(deps, {
    type: 'account.token_rotated',
    accountSid: account.sid,
    actor: principal.kind === 'operator' ? 'operator' : 'account',
    details: { graceSeconds: grace, previousTokenValidUntil: previousTokenValidUntil?.toISOString() ?? null },
  });
  await recaptureAuthToken(deps, account.sid, authToken);
  return { account: await getAccount(deps, account.sid), authToken, previousTokenValidUntil };
}
