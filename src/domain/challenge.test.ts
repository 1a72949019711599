import { describe, expect, it } from 'vitest';
import { CHALLENGE, effectiveStatus, resolveExpiration, transition, type ChallengeState } from './challenge.ts';

const now = new Date('2026-11-25T12:00:00Z');
const later = (ms: number) => new Date(now.getTime() + ms);
const pending: ChallengeState = { status: 'pending', expirationDate: later(60_000), attempts: 0 };
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string; twilioCode?: number }).code + ':' + (e as { twilioCode?: number }).twilioCode;
  }
  return 'no error';
};

describe('challenge state machine', () => {
  it('pending → approved / denied / attempts+1', () => {
    expect(transition(pending, 'approve', now).status).toBe('approved');
    expect(transition(pending, 'deny', now).status).toBe('denied');
    expect(transition(pending, 'fail', now)).toEqual({ ...pending, attempts: 1 });
  });

  it('the 6th attempt after 5 wrong codes → TOO_MANY_ATTEMPTS 60308', () => {
    const tired = { ...pending, attempts: CHALLENGE.maxAttempts };
    expect(codeOf(() => transition(tired, 'approve', now))).toBe('TOO_MANY_ATTEMPTS:60308');
    expect(codeOf(() => transition(tired, 'fail', now))).toBe('TOO_MANY_ATTEMPTS:60308');
    expect(codeOf(() => transition({ ...pending, attempts: 4 }, 'fail', now))).toBe('no error');
  });

  it.each(['approved', 'denied'] as const)('%s → CHALLENGE_ALREADY_RESPONDED 60322 on approve and fail', (status) => {
    for (const e of ['approve', 'fail', 'deny'] as const) {
      expect(codeOf(() => transition({ ...pending, status }, e, now))).toBe('CHALLENGE_ALREADY_RESPONDED:60322');
    }
    expect(transition({ ...pending, status }, 'expire', later(120_000)).status).toBe(status);
  });

  it('expired (stored or overdue) → CHALLENGE_EXPIRED 60323', () => {
    const overdue = { ...pending, expirationDate: now };
    for (const c of [overdue, { ...pending, status: 'expired' as const }]) {
      for (const e of ['approve', 'fail', 'deny'] as const) expect(codeOf(() => transition(c, e, now))).toBe('CHALLENGE_EXPIRED:60323');
    }
  });

  it('expire: only an overdue pending challenge becomes expired; early or repeated runs are no-ops', () => {
    expect(transition(pending, 'expire', now)).toBe(pending);
    expect(transition(pending, 'expire', later(60_000)).status).toBe('expired');
    const expired = { ...pending, status: 'expired' as const };
    expect(transition(expired, 'expire', later(60_000))).toBe(expired);
  });

  it('reads an overdue pending challenge as expired at exactly its expirationDate', () => {
    expect(effectiveStatus(pending, later(59_999))).toBe('pending');
    expect(effectiveStatus(pending, later(60_000))).toBe('expired');
    expect(effectiveStatus({ ...pending, status: 'approved' }, later(600_000))).toBe('approved');
  });
});

describe('expiration date', () => {
  it('defaults to +5 min and allows up to +60 min in the future', () => {
    expect(resolveExpiration(undefined, now)).toEqual(later(5 * 60_000));
    expect(resolveExpiration(later(60 * 60_000), now)).toEqual(later(60 * 60_000));
    expect(resolveExpiration(later(1), now)).toEqual(later(1));
  });
  it.each([
    ['past', later(-1)],
    ['now', now],
    ['over 60 min', later(60 * 60_000 + 1)],
    ['invalid', new Date('nope')],
  ])('%s → INVALID_ARGUMENT expirationDate', (_n, d) => {
    expect(codeOf(() => resolveExpiration(d, now))).toBe('INVALID_ARGUMENT:60200');
  });
});
