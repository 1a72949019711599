import { ForbiddenError, UnauthenticatedError } from '../domain/errors.ts';
import type { AuditActor } from '../domain/audit.ts';
import type { Deps, Principal } from '../deps.ts';

/** What an access token may reach: use cases check each row they load against it (services/scope.ts). */
export interface Scope {
  serviceSid: string;
  identity: string;
  expiresAt: Date;
}

/** A use case's view of the caller: always one account; every query is scoped by it. */
export interface Tenant {
  deps: Deps;
  accountSid: string;
  /** Who acts, for the audit trail; unset = the account's own credentials. An access token sets `access_token:<identity>`. */
  actor?: AuditActor;
  /** Set for access tokens only: rows outside this service and identity are FORBIDDEN. */
  scope?: Scope;
  /** Set when the caller presented a previous auth token in its rotation grace period: no management (src/auth/management.ts). */
  graceUntil?: Date;
}

/**
 * The caller's account, for account credentials only. Access tokens are refused here (default
 * deny): a resolver opens itself to them only through scopedTenantOf, explicitly.
 */
export function tenantOf(deps: Deps, principal: Principal): Tenant {
  if (principal.kind === 'account') {
    return principal.graceUntil
      ? { deps, accountSid: principal.accountSid, graceUntil: principal.graceUntil }
      : { deps, accountSid: principal.accountSid };
  }
  if (principal.kind === 'operator') throw new ForbiddenError('The operator token manages accounts only');
  if (principal.kind === 'access') throw new ForbiddenError('An access token may not perform this operation');
  throw new UnauthenticatedError(principal.reason);
}

/** Like tenantOf, but an access token passes too, as a tenant carrying its scope. */
export function scopedTenantOf(deps: Deps, principal: Principal): Tenant {
  if (principal.kind !== 'access') return tenantOf(deps, principal);
  const { accountSid, serviceSid, identity, expiresAt } = principal;
  return { deps, accountSid, scope: { serviceSid, identity, expiresAt }, actor: `access_token:${identity}` };
}

export function requireOperator(principal: Principal): void {
  if (principal.kind === 'operator') return;
  if (principal.kind === 'account' || principal.kind === 'access') throw new ForbiddenError('Only the operator token may manage accounts');
  throw new UnauthenticatedError(principal.reason);
}
