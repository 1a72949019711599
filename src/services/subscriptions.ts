import type { Challenge, Factor } from '../generated/prisma/client.ts';
import { InvalidArgumentError } from '../domain/errors.ts';
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

/** A serviceSid or identity filter matches every change in that scope; all given filters must match. */
export function matches(e: VerityEvent, sid: string, f: UpdateFilter): boolean {
  return (!f.sid || f.sid.toLowerCase() === sid.toLowerCase())
    && (!f.serviceSid || f.serviceSid.toLowerCase() === e.serviceSid.toLowerCase())
    && (!f.identity || f.identity === e.identity);
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
    if (!e.type.startsWith('factor.') || !matches(e, e.factorSid, filter)) return null;
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
    for await (const e of source) {
      const value = await read(e);
      if (value) await push(value);
    }
    stop();
  });
}
