import type { Config } from '../config.ts';
import type { PrismaClient } from '../db/client.ts';
import type { AuditLog } from '../db/audit-store.ts';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors.ts';
import type { Keyring } from '../domain/seed-crypto.ts';
import type { AuditActor } from '../domain/audit.ts';
import type { Logger } from '../logger.ts';
import type { EventBus } from '../events/index.ts';
import type { JobEngine } from '../jobs/index.ts';
import type { Metrics } from '../observability/metrics.ts';

/** Long-lived collaborators every use case may need; built once per process. */
export interface Deps {
  config: Config;
  prisma: PrismaClient;
  logger: Logger;
  /** The clock: every time-dependent rule reads it here, so tests control time. */
  now: () => Date;
  /** Seed encryption keys; never logged, never leave the process. */
  keyring: Keyring;
  /** Status changes, published after commit (subscriptions, webhooks). */
  events: EventBus;
  /** Delayed and repeating jobs (expiry, reconciliation). */
  jobs: JobEngine;
  /** Stable HMAC key for seed fingerprints (duplicate detection without decrypting). */
  fingerprintKey: Uint8Array;
  /** Prometheus counters of this process (one registry per runtime). */
  metrics: Metrics;
  /** This process's audit appends, grouped per account (db/audit-store.ts group commit). */
  auditLog: AuditLog;
}

export type Principal =
  | {
      kind: 'account';
      accountSid: string;
      /**
       * The auth token this request presented (Basic auth, current token only). Needed once, to
       * capture a TWILIO-signing webhook's key (Twilio signs with the raw token; only its hash is
       * stored). Never log, persist in clear or enqueue it.
       */
      credential?: string;
      /** Set when the previous token (rotation grace period) authenticated: when it stops working. */
      expiresAt?: Date;
    }
  | { kind: 'operator' }
  | AccessPrincipal
  | {
      kind: 'anonymous';
      /** Why credentials were refused, when saying so reveals nothing (e.g. an expired access token). */
      reason?: string;
    };

/**
 * A browser's access token (services/access-tokens.ts): acts for one identity of one service
 * until `expiresAt`. `allowedOrigins` is the service's list, read when the token was checked (CORS).
 */
export interface AccessPrincipal {
  kind: 'access';
  accountSid: string;
  serviceSid: string;
  identity: string;
  expiresAt: Date;
  allowedOrigins: readonly string[];
}

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
}

/**
 * The caller's account, for account credentials only. Access tokens are refused here (default
 * deny): a resolver opens itself to them only through scopedTenantOf, explicitly.
 */
export function tenantOf(deps: Deps, principal: Principal): Tenant {
  if (principal.kind === 'account') return { deps, accountSid: principal.accountSid };
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
