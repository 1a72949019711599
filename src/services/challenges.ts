import type { Challenge } from '../generated/prisma/client.ts';
import { NotFoundError } from '../domain/errors.ts';
import { effectiveStatus, type ChallengeStatus } from '../domain/challenge.ts';
import { isSid, normalizeSid } from '../domain/sid.ts';
import { pageArgsSchema, parseInput } from '../domain/validation.ts';
import * as store from '../db/challenge-store.ts';
import type { Tenant } from './context.ts';
import { assertInScope, scopeWhere } from './scope.ts';

// Reading challenges. Creating and answering them: challenge-attempts.ts; expiry: challenge-expiry.ts.

/** A challenge as every reader sees it: overdue pending reads EXPIRED whether or not a job ran. */
export function withEffectiveStatus<C extends Pick<Challenge, 'status' | 'expirationDate'>>(c: C, now: Date): C {
  const status = effectiveStatus(c, now);
  return status === c.status ? c : { ...c, status };
}

export async function findChallenge(t: Tenant, sid: string): Promise<Challenge | null> {
  if (!isSid('challenge', sid)) return null;
  const c = await store.findChallenge(t.deps.prisma, t.accountSid, normalizeSid(sid));
  if (c) assertInScope(t, c);
  return c && withEffectiveStatus(c, t.deps.now());
}

export async function getChallenge(t: Tenant, sid: string): Promise<Challenge> {
  const c = await findChallenge(t, sid);
  if (!c) throw new NotFoundError('Challenge', sid);
  return c;
}

/**
 * A challenge addressed the way Twilio's REST paths address it (`…/Entities/{identity}/Challenges/{YC}`):
 * Twilio 60391 scopes the lookup by ServiceSid + Identity + Sid, so a mismatch is NOT_FOUND.
 */
export async function findEntityChallenge(
  t: Tenant,
  ref: { serviceSid: string; identity: string; challengeSid: string },
): Promise<Challenge | null> {
  if (!isSid('challenge', ref.challengeSid) || !isSid('service', ref.serviceSid)) return null;
  const c = await store.findEntityChallenge(t.deps.prisma, t.accountSid, {
    challengeSid: normalizeSid(ref.challengeSid),
    serviceSid: normalizeSid(ref.serviceSid),
    identity: ref.identity,
  });
  return c && withEffectiveStatus(c, t.deps.now());
}

export async function getEntityChallenge(
  t: Tenant,
  ref: { serviceSid: string; identity: string; challengeSid: string },
): Promise<Challenge> {
  const c = await findEntityChallenge(t, ref);
  if (!c) throw new NotFoundError('Challenge', ref.challengeSid);
  return c;
}

export async function listChallenges(
  t: Tenant,
  entitySid: string,
  args: {
    first?: number | null;
    after?: string | null;
    factorSid?: string | null;
    status?: ChallengeStatus | null;
    order?: 'asc' | 'desc' | null;
  },
) {
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  const now = t.deps.now();
  // Status filters use the effective status (challenge-store): PENDING excludes overdue rows, EXPIRED includes them.
  const filter = {
    entitySid,
    accountSid: t.accountSid,
    ...scopeWhere(t),
    status: args.status,
    now,
    ...(args.factorSid ? { factorSid: isSid('factor', args.factorSid) ? normalizeSid(args.factorSid) : '' } : {}),
  };
  const result = await store.challengePage(t.deps.prisma, filter, { ...page, order: args.order ?? 'asc' });
  return { ...result, nodes: result.nodes.map((c) => withEffectiveStatus(c, now)) };
}
