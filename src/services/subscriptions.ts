import type { Challenge, Factor } from '../generated/prisma/client.ts';
import { ForbiddenError, InvalidArgumentError } from '../domain/errors.ts';
import { Repeater } from '@repeaterjs/repeater';
import type { VerityEvent } from '../events/index.ts';
import type { Tenant } from './context.ts';
import { findChallenge } from './challenges.ts';
import { findFactor } from './factors.ts';

export interface UpdateFilter {
  sid?: string | null;
  serviceSid?: string | null;
  identity?: string | null;
}

function requireFilter(f: UpdateFilter, sidName: string) {
  if (!f.sid && !f.serviceSid && !f.identity) {
    throw new InvalidArgumentError(sidName, `give at least one of ${sidName}, serviceSid, identity`);
  }
}

/**
 * An access token watches only its own identity: filters naming another service or identity are
 * FORBIDDEN, a SID filter must name one of its own rows (checked by loading it), and the scope is
 * added to the filter, so no event outside it can match.
 */
async function scopedFilter(t: Tenant, f: UpdateFilter, load: (t: Tenant, sid: string) => Promise<unknown>): Promise<UpdateFilter> {
  if (!t.scope) return f;
  const { serviceSid, identity } = t.scope;
  if ((f.serviceSid && f.serviceSid.toLowerCase() !== serviceSid) || (f.identity && f.identity !== identity)) {
    throw new ForbiddenError('This access token may only watch its own identity');
  }
  if (f.sid) await load(t, f.sid); // FORBIDDEN when the row belongs to another identity
  return { ...f, serviceSid, identity };
}

/** Subscriptions open to access tokens: the filter is checked and narrowed to the scope first. */
export async function scopedChallengeUpdates(t: Tenant, filter: UpdateFilter): Promise<AsyncIterableIterator<Challenge>> {
  requireFilter(filter, 'challengeSid');
  return challengeUpdates(t, await scopedFilter(t, filter, findChallenge));
}

export async function scopedFactorUpdates(t: Tenant, filter: UpdateFilter): Promise<AsyncIterableIterator<Factor>> {
  requireFilter(filter, 'factorSid');
  return factorUpdates(t, await scopedFilter(t, filter, findFactor));
}

/** A serviceSid or identity filter matches every change in that scope; all given filters must match. */
export function matches(e: VerityEvent, sid: string, f: UpdateFilter): boolean {
  return (
    (!f.sid || f.sid.toLowerCase() === sid.toLowerCase()) &&
    (!f.serviceSid || f.serviceSid.toLowerCase() === e.serviceSid.toLowerCase()) &&
    (!f.identity || f.identity === e.identity)
  );
}

/**
 * The caller's challenges as they change, each re-read exactly as a query would read it. The
 * subscription is on the caller's own account channel: another tenant's events never arrive,
 * whatever SID is guessed.
 */
export function challengeUpdates(t: Tenant, filter: UpdateFilter): AsyncIterableIterator<Challenge> {
  requireFilter(filter, 'challengeSid');
  return mapEvents(t, async (e) => {
    if (!('challengeSid' in e) || !matches(e, e.challengeSid, filter)) return null;
    return findChallenge(t, e.challengeSid);
  });
}

export function factorUpdates(t: Tenant, filter: UpdateFilter): AsyncIterableIterator<Factor> {
  requireFilter(filter, 'factorSid');
  return mapEvents(t, async (e) => {
    if (!('factorSid' in e) || !e.type.startsWith('factor.') || !matches(e, e.factorSid, filter)) return null;
    const f = await findFactor(t, e.factorSid);
    if (f || e.type !== 'factor.deleted' || !('snapshot' in e) || !e.snapshot) return f;
    const s = e.snapshot as Factor & { dateCreated: string | Date; dateUpdated: string | Date };
    return { ...s, dateCreated: new Date(s.dateCreated), dateUpdated: new Date(s.dateUpdated) } as Factor;
  });
}

/**
 * The account's events mapped through `read` (null = skip). A Repeater rather than an async
 * generator: a generator parked on its source's next() cannot run return() until an event comes,
 * so a closed client would hold its subscription forever.
 */
function mapEvents<T>(t: Tenant, read: (e: VerityEvent) => Promise<T | null>): AsyncIterableIterator<T> {
  const source = t.deps.events.subscribe(t.accountSid);
  return new Repeater<T>(async (push, stop) => {
    void stop.then(() => source.return?.());
    if (t.scope) {
      // An access token's subscription ends with the token: it cannot outlive its credentials.
      const timer = setTimeout(stop, Math.max(0, t.scope.expiresAt.getTime() - t.deps.now().getTime()));
      timer.unref();
      void stop.then(() => clearTimeout(timer));
    }
    for await (const e of source) {
      const value = await read(e);
      if (value) await push(value);
    }
    stop();
  });
}
