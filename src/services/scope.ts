import { ForbiddenError } from '../domain/errors.ts';
import type { Tenant } from './context.ts';

/**
 * An access token acts for one identity of one service (docs/browser-clients.md): every row a scoped use case
 * loads is checked here. Another account's rows never get this far (NOT_FOUND, as everywhere);
 * another service's or identity's rows in the same account are FORBIDDEN.
 */
export function assertInScope(t: Tenant, row: { serviceSid: string; identity: string }): void {
  if (!t.scope) return;
  if (row.serviceSid !== t.scope.serviceSid || row.identity !== t.scope.identity) {
    throw new ForbiddenError('This access token acts for another identity or service');
  }
}

/** Extra `where` terms that keep a list inside the scope (nothing for account credentials). */
export const scopeWhere = (t: Tenant) => (t.scope ? { serviceSid: t.scope.serviceSid, identity: t.scope.identity } : {});
