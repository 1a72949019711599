import type { Config } from '../config.ts';
import type { PrismaClient } from '../db/client.ts';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors.ts';

/** Long-lived collaborators every use case may need; built once per process. */
export interface Deps {
  config: Config;
  prisma: PrismaClient;
  /** The clock: every time-dependent rule reads it here, so tests control time. */
  now: () => Date;
}

export type Principal =
  | { kind: 'account'; accountSid: string }
  | { kind: 'operator' }
  | { kind: 'anonymous' };

/** A use case's view of the caller: always one account; every query is scoped by it. */
export interface Tenant {
  deps: Deps;
  accountSid: string;
}

export function tenantOf(deps: Deps, principal: Principal): Tenant {
  if (principal.kind === 'account') return { deps, accountSid: principal.accountSid };
  if (principal.kind === 'operator') throw new ForbiddenError('The operator token manages accounts only');
  throw new UnauthenticatedError();
}

export function requireOperator(principal: Principal): void {
  if (principal.kind === 'operator') return;
  if (principal.kind === 'account') throw new ForbiddenError('Only the operator token may manage accounts');
  throw new UnauthenticatedError();
}
