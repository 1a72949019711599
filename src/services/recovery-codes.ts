import { z } from 'zod';
import type { Entity } from '../generated/prisma/client.ts';
import { TooManyAttemptsError } from '../domain/errors.ts';
import { retryAfterSeconds } from '../domain/throttle.ts';
import { identitySchema, parseInput } from '../domain/validation.ts';
import {
  RECOVERY_CODES,
  deriveRecoveryCodeKey,
  hashRecoveryCode,
  newRecoveryCodeSet,
  normalizeRecoveryCode,
} from '../domain/recovery-code.ts';
import * as store from '../db/recovery-code-store.ts';
import type { EntityEvent } from '../events/index.ts';
import type { Tenant } from './context.ts';
import { getService } from './services.ts';
import { ensureEntity, getEntity } from './entities.ts';
import { emit } from './events.ts';
import { audit } from './audit.ts';

// Recovery codes (a Verity extension; docs/decisions/recovery-codes.md): one-time codes that get a
// user in when the authenticator is lost. Who may call: account credentials, including a previous
// auth token in its rotation grace period (this is per-user data like enrolling a factor, not
// credential management of the account); never an access token (the resolvers use tenantOf): a
// browser token is minted before the second factor is proven, and a set generated with it would
// let a password alone pass the second factor.

const generateInput = z.object({ serviceSid: z.string(), identity: identitySchema });
const redeemInput = z.object({
  serviceSid: z.string(),
  identity: z.string(),
  code: z.string().max(RECOVERY_CODES.maxInputLength, `must be at most ${RECOVERY_CODES.maxInputLength} characters`),
});

export interface RecoveryCodesPayload {
  /** Shown once: only their keyed hashes are stored. */
  codes: string[];
  entity: Entity;
}

export interface RecoveryCodeResult {
  valid: boolean;
  remaining: number;
}

const entityEvent = (type: EntityEvent['type'], e: Entity, remaining: number): EntityEvent => ({
  type,
  accountSid: e.accountSid,
  serviceSid: e.serviceSid,
  identity: e.identity,
  entitySid: e.sid,
  recoveryCodesRemaining: remaining,
});

const auditSubject = (e: Entity) => ({ serviceSid: e.serviceSid, entitySid: e.sid });

const codeHash = (t: Tenant, entitySid: string, canonical: string) =>
  hashRecoveryCode(deriveRecoveryCodeKey(t.deps.fingerprintKey), entitySid, canonical);

/**
 * A new set of codes for an identity (created if missing, as enrolment does); the old set stops
 * working in the same transaction. The codes are returned here, once, and never stored.
 */
export async function generateRecoveryCodes(t: Tenant, input: { serviceSid: string; identity: string }): Promise<RecoveryCodesPayload> {
  const data = parseInput(generateInput, input);
  const service = await getService(t, data.serviceSid);
  const entity = await ensureEntity(t, service.sid, data.identity);
  const codes = newRecoveryCodeSet();
  const hashes = codes.map((c) => codeHash(t, entity.sid, normalizeRecoveryCode(c)!));
  await store.replaceRecoveryCodes(t.deps.prisma, { accountSid: t.accountSid, entitySid: entity.sid, hashes, now: t.deps.now() });
  await emit(t.deps, entityEvent('entity.recovery_codes.generated', entity, codes.length));
  await audit(t, {
    type: 'entity.recovery_codes.generated',
    ...auditSubject(entity),
    details: { identity: entity.identity, count: codes.length },
  });
  return { codes, entity };
}

/**
 * Redeems one code: the attempt is charged to the entity's guessing throttle first (the factor
 * throttle's schedule: free typos, then exponential backoff, never a permanent lock), then the
 * code's hash is deleted by one conditional statement, which is the decision — a code works once,
 * however many requests race with it. A wrong code is a result, not an error.
 */
export async function redeemRecoveryCode(
  t: Tenant,
  input: { serviceSid: string; identity: string; code: string },
): Promise<RecoveryCodeResult> {
  const data = parseInput(redeemInput, input);
  const service = await getService(t, data.serviceSid);
  const entity = await getEntity(t, service.sid, data.identity);
  const { prisma } = t.deps;
  const ref = { accountSid: t.accountSid, entitySid: entity.sid };
  const now = t.deps.now();
  const charge = await store.chargeRecoveryAttempt(prisma, { ...ref, now });
  if (charge.kind === 'throttled') {
    // The refusing statement saw a live throttle; a snapshot older than it may not: then say 1 s.
    const until = charge.throttledUntil && charge.throttledUntil > now ? charge.throttledUntil : new Date(now.getTime() + 1000);
    const retryAfter = retryAfterSeconds(until, now);
    await audit(t, { type: 'entity.recovery_code.throttled', ...auditSubject(entity), details: { identity: entity.identity, retryAfter } });
    // Twilio 60308, as for the factor throttle: too many wrong codes, retry later.
    throw new TooManyAttemptsError(60308, 'Too many wrong recovery codes for this entity: retry later', retryAfter);
  }
  const canonical = normalizeRecoveryCode(data.code);
  const taken =
    charge.kind === 'charged' &&
    canonical !== null &&
    (await store.takeRecoveryCode(prisma, { ...ref, codeHash: codeHash(t, entity.sid, canonical) }));
  const remaining = await store.countRecoveryCodes(prisma, ref);
  if (taken) {
    await emit(t.deps, entityEvent('entity.recovery_code.redeemed', entity, remaining));
    await audit(t, { type: 'entity.recovery_code.redeemed', ...auditSubject(entity), details: { identity: entity.identity, remaining } });
  } else {
    const reason = charge.kind === 'no-codes' ? 'no_codes' : 'wrong_code';
    await audit(t, { type: 'entity.recovery_code.failed', ...auditSubject(entity), details: { identity: entity.identity, reason } });
  }
  return { valid: taken, remaining };
}

/** Unused codes of an entity already loaded under the caller's tenancy. */
export const recoveryCodesRemaining = (t: Tenant, entity: Pick<Entity, 'sid'>) =>
  store.countRecoveryCodes(t.deps.prisma, { accountSid: t.accountSid, entitySid: entity.sid });
