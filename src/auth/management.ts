import { ForbiddenError } from '../domain/errors.ts';
import type { Principal } from '../deps.ts';
import type { Tenant } from '../services/context.ts';

/**
 * The one guard of credential and configuration management (rotating the auth token, minting
 * access tokens, creating, changing or deleting services, webhooks and accounts), called first by
 * each such use case, so GraphQL and REST share it. A previous auth token in its rotation grace
 * period keeps deployed clients reading and verifying, but it may be the leaked one the rotation
 * is replacing: letting it rotate again or rewire webhooks would hand the account to whoever holds
 * it (Twilio 20403: the credential lacks permission for this action).
 */
export function requireManagement(caller: Tenant | Principal): void {
  if (!('graceUntil' in caller) || !caller.graceUntil) return;
  throw new ForbiddenError(
    'This auth token was replaced and is only honoured until its grace period ends: it may read and verify, ' +
      'but managing credentials and configuration needs the current auth token',
  );
}
