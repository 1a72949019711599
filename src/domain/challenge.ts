import { ChallengeAlreadyRespondedError, ChallengeExpiredError, InvalidArgumentError, TooManyAttemptsError } from './errors.ts';

export type ChallengeStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface ChallengeState {
  status: ChallengeStatus;
  expirationDate: Date;
  /** Wrong codes so far. */
  attempts: number;
}

/** Twilio: default lifetime 5 minutes, at most 60; a TOTP challenge allows 5 wrong codes (60308). */
export const CHALLENGE = {
  defaultTtlMs: 5 * 60_000,
  maxTtlMs: 60 * 60_000,
  maxAttempts: 5,
} as const;

/** The status every reader sees: a pending challenge past its expiry is expired, job or no job. */
export function effectiveStatus(c: Pick<ChallengeState, 'status' | 'expirationDate'>, now: Date): ChallengeStatus {
  return c.status === 'pending' && c.expirationDate.getTime() <= now.getTime() ? 'expired' : c.status;
}

export type ChallengeEvent = 'approve' | 'fail' | 'expire' | 'deny';

/**
 * The state machine: PENDING → APPROVED | EXPIRED | DENIED (reserved for push; TOTP never denies).
 * Returns the next state, or throws the typed error a client gets. 'expire' on anything but an
 * overdue pending challenge is a no-op (jobs may run early, twice or late).
 */
export function transition(c: ChallengeState, event: ChallengeEvent, now: Date): ChallengeState {
  const status = effectiveStatus(c, now);
  if (event === 'expire') return status === 'expired' && c.status === 'pending' ? { ...c, status: 'expired' } : c;
  if (status === 'expired') throw new ChallengeExpiredError();
  if (status !== 'pending') throw new ChallengeAlreadyRespondedError();
  if (c.attempts >= CHALLENGE.maxAttempts) {
    throw new TooManyAttemptsError(60308, 'Challenge verification attempts limit reached: create a new challenge');
  }
  if (event === 'approve') return { ...c, status: 'approved' };
  if (event === 'deny') return { ...c, status: 'denied' };
  return { ...c, attempts: c.attempts + 1 };
}

/** Twilio: default creation + 5 min, at most creation + 60 min, and in the future. */
export function resolveExpiration(requested: Date | null | undefined, now: Date): Date {
  if (!requested) return new Date(now.getTime() + CHALLENGE.defaultTtlMs);
  if (Number.isNaN(requested.getTime())) throw new InvalidArgumentError('expirationDate', 'is not a date');
  if (requested.getTime() <= now.getTime()) throw new InvalidArgumentError('expirationDate', 'must be in the future');
  if (requested.getTime() > now.getTime() + CHALLENGE.maxTtlMs) {
    throw new InvalidArgumentError('expirationDate', 'must be at most 60 minutes after creation');
  }
  return requested;
}
