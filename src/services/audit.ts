import { z } from 'zod';
import type { AuditEvent } from '../generated/prisma/client.ts';
import {
  AUDIT_EVENT_TYPES,
  AuditChainVerifier,
  canonicalJson,
  checkpointMacValid,
  type AuditActor,
  type AuditContent,
  type AuditEventType,
  type AuditFailure,
} from '../domain/audit.ts';
import { InvalidArgumentError } from '../domain/errors.ts';
import { decodeCursor, pageSize, type Page } from '../domain/paging.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { pageArgsSchema, parseInput } from '../domain/validation.ts';
import {
  accountsWithUnsealedAudit,
  appendAuditEvents,
  auditChainHead,
  auditCheckpoints,
  auditEventPage,
  findAuditEventRow,
  auditRowsAfter,
  auditSeqOf,
  nextAuditChain,
  sealAuditInbox,
} from '../db/audit-store.ts';
import type { PrismaClient } from '../db/client.ts';
import type { Tenant } from './context.ts';
import type { Deps } from '../deps.ts';

/** One security event as a use case reports it. `details` must never hold a seed, token, code or payload. */
export interface AuditInput {
  type: AuditEventType;
  accountSid: string;
  actor: AuditActor;
  serviceSid?: string | null;
  entitySid?: string | null;
  factorSid?: string | null;
  challengeSid?: string | null;
  details?: Record<string, unknown> | null;
}

/** What appending needs: operator scripts append without a whole runtime (no Redis, no queues). */
export type AuditDeps = Pick<Deps, 'prisma' | 'now' | 'logger' | 'auditLog'>;

const toContent = (deps: AuditDeps, e: AuditInput): AuditContent => ({
  sid: newSid('auditEvent'),
  accountSid: e.accountSid,
  type: e.type,
  serviceSid: e.serviceSid ?? null,
  entitySid: e.entitySid ?? null,
  factorSid: e.factorSid ?? null,
  challengeSid: e.challengeSid ?? null,
  actor: e.actor,
  details: e.details ? canonicalJson(e.details) : null,
  dateCreated: deps.now(),
});

/**
 * Appends one event to its account's chain (the inbox, then a grouped seal). Called right after the change it
 * records has committed (like emit()), so a crash in between loses the event, never invents one.
 * Never throws: the change is done and the caller's answer must not depend on the trail; a failed
 * append is logged at error level (SIDs and type only) for the operator to see.
 *
 * For other use cases (e.g. createAccessToken): `await recordAudit(deps, { type: 'access_token.issued',
 * accountSid, actor: 'account', serviceSid, entitySid, details: { identity, expiresAt } })`.
 */
export async function recordAudit(deps: AuditDeps, e: AuditInput): Promise<void> {
  try {
    await deps.auditLog.append(toContent(deps, e));
  } catch (err) {
    deps.logger.error({ err, type: e.type, accountSid: e.accountSid }, 'audit append failed');
  }
}

/** Many events in one short transaction (the expiry drain's batches); never throws, like recordAudit. */
export async function recordAuditBatch(deps: AuditDeps, events: AuditInput[]): Promise<void> {
  if (events.length === 0) return;
  try {
    await appendAuditEvents(
      deps.prisma,
      events.map((e) => toContent(deps, e)),
    );
  } catch (err) {
    deps.logger.error({ err, events: events.length }, 'audit batch append failed');
  }
}

/** The acting principal of a tenant-scoped use case (account credentials unless the tenant says otherwise). */
export const actorOf = (t: Tenant): AuditActor => t.actor ?? 'account';

/** recordAudit for a tenant-scoped use case: the tenant's account and actor. */
export const audit = (t: Tenant, e: Omit<AuditInput, 'accountSid' | 'actor'>) =>
  recordAudit(t.deps, { ...e, accountSid: t.accountSid, actor: actorOf(t) });

// ------------------------------------------------------------------ the auditEvents query

const listInput = z.object({
  type: z.enum(AUDIT_EVENT_TYPES, `must be one of ${AUDIT_EVENT_TYPES.join(', ')}`).nullish(),
  serviceSid: z
    .string()
    .refine((s) => isSid('service', s), 'is not a service SID')
    .nullish(),
});

/** One event of the caller's own trail by SID; another account's is null, like one that does not exist. */
export async function findAuditEvent(t: Tenant, sid: string): Promise<AuditEvent | null> {
  if (!isSid('auditEvent', sid)) return null;
  await t.deps.auditLog.flush(t.accountSid); // events committed with their change may still be in the inbox
  return findAuditEventRow(t.deps.prisma, t.accountSid, normalizeSid(sid));
}

/**
 * The account's own events, newest first (order: ASC for oldest first), keyset-paged on seq — the
 * chain's order, which timestamps alone cannot give (many events share a millisecond). The cursor
 * is the usual opaque (dateCreated, sid) one; its sid is looked up, inside this account, for its seq.
 */
export async function listAuditEvents(
  t: Tenant,
  args: { first?: number | null; after?: string | null; serviceSid?: string | null; type?: string | null; order?: 'asc' | 'desc' | null },
): Promise<Page<AuditEvent>> {
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  const filter = parseInput(listInput, { type: args.type, serviceSid: args.serviceSid });
  const { prisma } = t.deps;
  await t.deps.auditLog.flush(t.accountSid); // events committed with their change may still be in the inbox
  const dir = args.order ?? 'desc';
  const take = pageSize(page.first);
  const where = {
    accountSid: t.accountSid,
    ...(filter.type ? { type: filter.type } : {}),
    ...(filter.serviceSid ? { serviceSid: normalizeSid(filter.serviceSid) } : {}),
  };
  let afterSeq: bigint | undefined;
  if (page.after) {
    const seq = await auditSeqOf(prisma, t.accountSid, decodeCursor(page.after).sid);
    if (seq === null) throw new InvalidArgumentError('after', 'is not a cursor this API returned');
    afterSeq = seq;
  }
  const { rows, totalCount } = await auditEventPage(prisma, where, { dir, afterSeq, take: take + 1 });
  return { nodes: rows.slice(0, take), hasNextPage: rows.length > take, hasPreviousPage: afterSeq !== undefined, totalCount };
}

// ------------------------------------------------------------------ verification

export type AuditVerification =
  { ok: true; events: number; chains: number } | { ok: false; events: number; chains: number; failure: AuditFailure };

/**
 * Recomputes every chain (accountSid order), each in seq order, in batches of `batchSize` rows:
 * memory stays constant whatever the table holds. Stops at the first row that does not verify.
 * A chain the retention purge shortened starts from its newest checkpoint, whose MAC is checked
 * with `checkpointKey` (called only when a checkpoint exists: verifying a trail never purged needs no key).
 */
export async function verifyAuditTrail(
  prisma: PrismaClient,
  opts: {
    batchSize?: number;
    accountSid?: string;
    onProgress?: (p: { events: number; chains: number }) => void;
    checkpointKey?: () => Promise<Uint8Array>;
  } = {},
): Promise<AuditVerification> {
  const batchSize = opts.batchSize ?? 1000;
  // Events committed with their change but not sealed yet (a process stopped in between) join their chains first.
  for (const a of opts.accountSid ? [opts.accountSid] : await accountsWithUnsealedAudit(prisma)) await sealAuditInbox(prisma, a);
  let events = 0;
  let chains = 0;
  let key: Uint8Array | undefined;
  let accountSid: string | null = opts.accountSid ?? (await nextAuditChain(prisma, ''));
  while (accountSid) {
    chains++;
    const checkpoints = await auditCheckpoints(prisma, accountSid);
    if (checkpoints.length > 0) {
      if (!opts.checkpointKey) throw new Error('verifyAuditTrail: the chain has retention checkpoints and no checkpointKey was given');
      key ??= await opts.checkpointKey();
      const forged = checkpoints.find((c) => !checkpointMacValid(key!, c));
      if (forged) {
        const failure: AuditFailure = {
          accountSid,
          kind: 'checkpoint',
          seq: forged.seq,
          sid: null,
          reason: `the retention checkpoint at seq ${forged.seq} is not signed by this installation (forged or altered)`,
        };
        return { ok: false, events, chains, failure };
      }
    }
    const v = new AuditChainVerifier(accountSid, checkpoints);
    let after = 0n;
    for (;;) {
      const rows = await auditRowsAfter(prisma, accountSid, after, batchSize);
      for (const r of rows) {
        const failure = v.push(r);
        if (failure) return { ok: false, events: events + v.count, chains, failure };
      }
      if (rows.length < batchSize) break;
      after = rows.at(-1)!.seq;
    }
    events += v.count;
    const failure = v.finish(await auditChainHead(prisma, accountSid));
    if (failure) return { ok: false, events, chains, failure };
    opts.onProgress?.({ events, chains });
    accountSid = opts.accountSid ? null : await nextAuditChain(prisma, accountSid);
  }
  return { ok: true, events, chains };
}
