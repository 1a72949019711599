import type { Challenge } from '../generated/prisma/client.ts';
import type { VerityEvent } from '../events/index.ts';
import type { AuditInput } from './audit.ts';

// What a challenge's changes announce: the event (subscriptions, webhooks) and the audit entry.

export const challengeEvent = (
  type: 'challenge.created' | 'challenge.approved' | 'challenge.expired',
  c: Pick<Challenge, 'sid' | 'accountSid' | 'serviceSid' | 'identity' | 'factorSid'>,
): VerityEvent => ({
  type,
  accountSid: c.accountSid,
  serviceSid: c.serviceSid,
  identity: c.identity,
  factorSid: c.factorSid,
  challengeSid: c.sid,
});

export type ChallengeRef = Pick<Challenge, 'sid' | 'accountSid' | 'serviceSid' | 'entitySid' | 'identity' | 'factorSid'>;

/** An audit event about a challenge: its subjects, and the identity (never the code) in details. */
export const challengeAudit = (
  type: 'challenge.approved' | 'challenge.failed' | 'challenge.throttled' | 'challenge.expired',
  c: ChallengeRef,
  details: Record<string, unknown> = {},
) => ({
  type,
  serviceSid: c.serviceSid,
  entitySid: c.entitySid,
  factorSid: c.factorSid,
  challengeSid: c.sid,
  details: { identity: c.identity, ...details },
});

/** A system-made expiry's audit entry (no tenant acts). */
export const expiredAudit = (c: ChallengeRef): AuditInput => ({
  ...challengeAudit('challenge.expired', c),
  accountSid: c.accountSid,
  actor: 'system',
});
