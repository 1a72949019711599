import { Prisma, type Challenge } from '../generated/prisma/client.ts';
import type { PrismaClient } from './client.ts';
import { CHALLENGE, type ChallengeStatus } from '../domain/challenge.ts';
import { matchingWebhookSids, matchingWebhookSidsEach } from './webhook-store.ts';
import { CHALLENGE_COLUMNS, PREPARED, hotQuery } from './prepared.ts';
import { attemptCharge, consumeStep, notThrottled, stepUnused, streakCharge, type CodeFactor } from './factor-store.ts';
import { inboxColumns } from './audit-store.ts';
import { keysetPage } from './paging.ts';

export type { CodeFactor };

// The Challenge aggregate's persistence: every statement that reads or writes "Challenge" rows.
// The statements that must be atomic (DESIGN.md "Atomicity") are named functions, each one SQL
// statement, so it holds on PostgreSQL and PGlite alike and costs one round trip. The factor's
// side of an attempt (streak, throttle, the time step consumed) comes from factor-store's fragments.

// ------------------------------------------------------------------ the challenge rules, as SQL

// src/domain/challenge.ts states the rules (effectiveStatus, transition's cap); these are their
// only SQL and Prisma forms, used by every statement below. `c` prefixes the columns with a table
// alias (Prisma.raw('c.')) or nothing (Prisma.empty).
const NO_ALIAS = Prisma.raw('');
const ALIAS_C = Prisma.raw('c.');

/** effectiveStatus is PENDING: pending and not overdue at `now`. */
const isLive = (c: Prisma.Sql, now: Date) => Prisma.sql`${c}"status" = 'pending' AND ${c}"expirationDate" > ${now}::timestamp(3)`;
/** effectiveStatus is EXPIRED while the row still says pending: what the expiry jobs write down. */
const isOverdue = (c: Prisma.Sql, now: Date) => Prisma.sql`${c}"status" = 'pending' AND ${c}"expirationDate" <= ${now}::timestamp(3)`;
/** transition's cap: another attempt may be charged (Twilio 60308). */
const underCap = (c: Prisma.Sql) => Prisma.sql`${c}"attempts" < ${CHALLENGE.maxAttempts}`;

/** A list filter on the effective status: PENDING excludes overdue rows, EXPIRED includes them. */
function effectiveStatusWhere(status: ChallengeStatus | null | undefined, now: Date): Prisma.ChallengeWhereInput {
  if (status === 'pending') return { status: 'pending', expirationDate: { gt: now } };
  if (status === 'expired') return { OR: [{ status: 'expired' }, { status: 'pending', expirationDate: { lte: now } }] };
  return status ? { status } : {};
}

// ------------------------------------------------------------------ attempts (atomic)

/**
 * Charges one attempt before a code is even looked at: the challenge's try counter (≤ 5, Twilio
 * 60308) and the factor's failure streak, which sets the throttle (THROTTLE, reset on success).
 * Because the charge comes first and is conditional, N concurrent guesses cannot all slip through
 * a check-then-act gap. Returns the challenge as charged, or null when the factor is throttled or
 * the challenge is no longer pending, unexpired and under its cap (the caller re-reads to say which).
 */
export async function chargeChallengeAttempt(
  prisma: PrismaClient,
  p: { challengeSid: string; factorSid: string; now: Date },
): Promise<Challenge | null> {
  const rows = await prisma.$queryRaw<Challenge[]>`
    WITH f AS (
      UPDATE "Factor" SET ${streakCharge(p.now)}
      WHERE "sid" = ${p.factorSid}
        AND ${notThrottled(p.now)}
        AND EXISTS (SELECT 1 FROM "Challenge" c WHERE c."sid" = ${p.challengeSid} AND ${isLive(ALIAS_C, p.now)} AND ${underCap(ALIAS_C)})
      RETURNING "sid"
    )
    UPDATE "Challenge" SET "attempts" = "attempts" + 1
    WHERE "sid" = ${p.challengeSid} AND ${isLive(NO_ALIAS, p.now)} AND ${underCap(NO_ALIAS)}
      AND EXISTS (SELECT 1 FROM f)
    RETURNING *`;
  return rows[0] ?? null;
}

export interface NewChallenge {
  sid: string;
  accountSid: string;
  factorSid: string;
  expirationDate: Date;
  now: Date;
  detailsMessage: string | null;
  detailsFields: unknown;
  hiddenDetails: unknown;
  metadata: unknown;
}

export type OpenedChallenge = { kind: 'no-factor' } | { kind: 'factor-unverified' } | { kind: 'opened'; challenge: Challenge };

const jsonParam = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));

/**
 * A challenge without a code, in one statement: reads the tenant's factor and inserts the
 * challenge when the factor is VERIFIED (Twilio 60318). A challenge with a code is openAndAttempt.
 */
export async function openChallenge(prisma: PrismaClient, c: NewChallenge): Promise<OpenedChallenge> {
  const rows = await hotQuery<Record<string, unknown>>(
    prisma,
    Prisma.sql`${PREPARED}
    WITH f AS (
      SELECT "sid", "accountSid", "serviceSid", "entitySid", "identity", "status"
      FROM "Factor" WHERE "sid" = ${c.factorSid} AND "accountSid" = ${c.accountSid}
    ), ins AS (
      INSERT INTO "Challenge" ("sid", "accountSid", "serviceSid", "entitySid", "identity", "factorSid", "expirationDate",
        "dateCreated", "dateUpdated", "detailsMessage", "detailsFields", "hiddenDetails", "metadata", "attempts")
      SELECT ${c.sid}, f."accountSid", f."serviceSid", f."entitySid", f."identity", f."sid", ${c.expirationDate}::timestamp(3),
        ${c.now}::timestamp(3), ${c.now}::timestamp(3), ${c.detailsMessage}, ${jsonParam(c.detailsFields)}::jsonb,
        ${jsonParam(c.hiddenDetails)}::jsonb, ${jsonParam(c.metadata)}::jsonb, 0
      FROM f WHERE f."status" = 'verified'
      RETURNING ${CHALLENGE_COLUMNS}
    )
    SELECT ins.*, f."status"::text AS "f_status" FROM f LEFT JOIN ins ON true`,
  );
  const row = rows[0];
  if (!row) return { kind: 'no-factor' };
  if (row.f_status !== 'verified' || row.sid == null) return { kind: 'factor-unverified' };
  const { f_status: _status, ...challenge } = row;
  return { kind: 'opened', challenge: challenge as unknown as Challenge };
}

/** What a login's code was checked against (the seed cache's entry): the statement acts only if the factor row still holds it. */
export interface CheckedAgainst {
  serviceSid: string;
  entitySid: string;
  identity: string;
  secretKeyId: string;
  secretCiphertext: Uint8Array;
  alg: string;
  codeLength: number;
  timeStep: number;
  skew: number;
  /** The window's centre offset the steps were computed with (RFC 6238 §6). */
  drift: number;
}

/** The audit event of each answer a login can get, content-hashed by the caller (src/domain/audit.ts). */
export interface LoginAudit {
  sid: string;
  actor: string;
  /** details text and content hash of: the approval, a wrong (or replayed) code, a right code another request used first. */
  approved: { details: string; hash: string };
  wrong: { details: string; hash: string };
  used: { details: string; hash: string };
}

export type LoginResult =
  | { kind: 'no-factor' }
  | { kind: 'factor-unverified' }
  /** The factor no longer holds what the code was checked against, or changed under the statement: nothing was written. */
  | { kind: 'stale' }
  /** The factor's throttle is armed: the challenge was opened uncharged, the code not looked at (Twilio 60308). */
  | { kind: 'throttled'; challenge: Challenge; throttledUntil: Date | null; createdWebhookSids: string[] }
  | {
      kind: 'answered';
      challenge: Challenge;
      outcome: 'approved' | 'wrong' | 'used';
      /** The factor's drift after the statement (moved by an approval one step off the centre). */
      drift: number;
      createdWebhookSids: string[];
      approvedWebhookSids: string[];
    };

/**
 * A login in one statement, one commit: reads the tenant's factor; when it still holds exactly what
 * the code was checked against (`checked`: seed ciphertext, key, TOTP config, subjects), charges the
 * attempt and — if `steps` (the window's steps whose code matched, computed before the statement,
 * each with the drift it implies) holds one later than the last one used — consumes it and
 * records its drift (RFC 6238 §6), in ONE update of the factor row
 * (factor-store attemptCharge: RFC 6238 §5.2 accepted once, Twilio 60308 charged before the code
 * counts, the throttle); inserts the challenge already answered (approved, or pending with its
 * attempt charged) and appends its audit event to the inbox (audit-store: no chain-head lock), and
 * returns the webhooks subscribed to `challenge.created` and `challenge.approved`.
 * The factor UPDATE re-checks the throttle, the version and the step on the latest row version
 * (READ COMMITTED), so concurrent logins on one factor serialise on its row lock for this one
 * statement. A throttled factor still gets its (uncharged) challenge. When the snapshot looked
 * chargeable but the locked row no longer is (a concurrent charge armed the throttle, or an update
 * changed the seed), nothing is written and the result is `stale`: the caller tries again.
 */
export async function openAndAttempt(
  prisma: PrismaClient,
  c: NewChallenge & { checked: CheckedAgainst; steps: { step: bigint; drift: number }[]; audit: LoginAudit },
): Promise<LoginResult> {
  const k = c.checked;
  const steps = c.steps.map((x) => String(x.step));
  const drifts = c.steps.map((x) => x.drift);
  const matches = Prisma.sql`"secretKeyId" = ${k.secretKeyId} AND "secretCiphertext" = ${Buffer.from(k.secretCiphertext)}::bytea
    AND "alg"::text = ${k.alg} AND "codeLength" = ${k.codeLength}::int AND "timeStep" = ${k.timeStep}::int AND "skew" = ${k.skew}::int
    AND "drift" = ${k.drift}::int
    AND "serviceSid" = ${k.serviceSid} AND "entitySid" = ${k.entitySid} AND "identity" = ${k.identity}`;
  const isFactor = Prisma.sql`"sid" = ${c.factorSid} AND "accountSid" = ${c.accountSid}`;
  const rows = await hotQuery<Record<string, unknown>>(
    prisma,
    Prisma.sql`${PREPARED}
    WITH f AS (
      SELECT "sid", "accountSid", "serviceSid", "entitySid", "identity", "status", "throttledUntil", "lastUsedTimeStep",
        ${notThrottled(c.now)} AS "open", (${matches}) AS "fresh"
      FROM "Factor" WHERE ${isFactor}
    ), k AS (
      UPDATE "Factor" SET ${attemptCharge(steps, drifts, c.now)}
      WHERE ${isFactor} AND "status" = 'verified' AND ${notThrottled(c.now)} AND ${matches}
        AND EXISTS (SELECT 1 FROM f WHERE f."fresh")
      RETURNING "failureStreak" = 0 AS "ok", "drift"
    ), ins AS (
      INSERT INTO "Challenge" ("sid", "accountSid", "serviceSid", "entitySid", "identity", "factorSid", "expirationDate",
        "dateCreated", "dateUpdated", "detailsMessage", "detailsFields", "hiddenDetails", "metadata", "attempts", "status", "dateResponded")
      SELECT ${c.sid}, f."accountSid", f."serviceSid", f."entitySid", f."identity", f."sid", ${c.expirationDate}::timestamp(3),
        ${c.now}::timestamp(3), ${c.now}::timestamp(3), ${c.detailsMessage}, ${jsonParam(c.detailsFields)}::jsonb,
        ${jsonParam(c.hiddenDetails)}::jsonb, ${jsonParam(c.metadata)}::jsonb, (k."ok" IS NOT NULL)::int,
        (CASE WHEN k."ok" THEN 'approved' ELSE 'pending' END)::"ChallengeStatus", CASE WHEN k."ok" THEN ${c.now}::timestamp(3) END
      FROM f LEFT JOIN k ON true
      WHERE f."status" = 'verified' AND f."fresh" AND (k."ok" IS NOT NULL OR NOT f."open")
      RETURNING ${CHALLENGE_COLUMNS}
    ), used AS (
      -- Right, but not by the locked row: the snapshot would have taken a step another request took first.
      SELECT NOT k."ok" AND EXISTS (SELECT 1 FROM unnest(${steps}::bigint[]) AS s
        WHERE f."lastUsedTimeStep" IS NULL OR s > f."lastUsedTimeStep") AS "used"
      FROM f, k
    ), aud AS (
      INSERT INTO "AuditInbox" (${inboxColumns})
      SELECT ${c.audit.sid}, i."accountSid", CASE WHEN k."ok" THEN 'challenge.approved' ELSE 'challenge.failed' END,
        i."serviceSid", i."entitySid", i."factorSid", i."sid", ${c.audit.actor},
        CASE WHEN k."ok" THEN ${c.audit.approved.details} WHEN u."used" THEN ${c.audit.used.details} ELSE ${c.audit.wrong.details} END,
        ${c.now}::timestamp(3),
        CASE WHEN k."ok" THEN ${c.audit.approved.hash} WHEN u."used" THEN ${c.audit.used.hash} ELSE ${c.audit.wrong.hash} END
      FROM ins i, k, used u
    )
    SELECT i.*, f."status"::text AS "f_status", f."fresh" AS "f_fresh", f."throttledUntil" AS "f_throttledUntil",
      k."ok" AS "k_ok", k."drift" AS "k_drift", u."used" AS "k_used",
      w."w_created", CASE WHEN k."ok" THEN w."w_approved" ELSE '{}'::text[] END AS "w_approved"
    FROM f LEFT JOIN k ON true LEFT JOIN used u ON true LEFT JOIN ins i ON true
      LEFT JOIN LATERAL ${matchingWebhookSidsEach(Prisma.raw('i'), { w_created: 'challenge.created', w_approved: 'challenge.approved' })} w ON true`,
  );
  const row = rows[0];
  if (!row) return { kind: 'no-factor' };
  if (row.f_status !== 'verified') return { kind: 'factor-unverified' };
  if (row.sid == null) return { kind: 'stale' };
  const challenge: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(row)) if (!/^[fkw]_/.test(key)) challenge[key] = v;
  const createdWebhookSids = row.w_created as string[];
  if (row.k_ok == null)
    return {
      kind: 'throttled',
      challenge: challenge as unknown as Challenge,
      throttledUntil: (row.f_throttledUntil as Date | null) ?? null,
      createdWebhookSids,
    };
  return {
    kind: 'answered',
    challenge: challenge as unknown as Challenge,
    outcome: row.k_ok ? 'approved' : row.k_used ? 'used' : 'wrong',
    drift: row.k_drift as number,
    createdWebhookSids,
    approvedWebhookSids: row.w_approved as string[],
  };
}

/**
 * Approves a pending, unexpired challenge and consumes the factor's time step in one statement
 * (RFC 6238 §5.2: a code is accepted once): only if the step is later than the last one used.
 * Two racing requests with the same code cannot both win. Success resets the failure streak and
 * records the drift the check observed (RFC 6238 §6), in the same SET list (consumeStep).
 * Returns the approved row and, read by the same statement, the webhooks subscribed to
 * `challenge.approved` in its service (the event then needs no lookup); null when it lost.
 */
export async function approveWithStep(
  prisma: PrismaClient,
  p: { challengeSid: string; factorSid: string; step: bigint; drift: number; now: Date },
): Promise<{ challenge: Challenge; webhookSids: string[] } | null> {
  const rows = await hotQuery<Challenge & { webhookSids: string[] }>(
    prisma,
    Prisma.sql`${PREPARED}
    WITH consumed AS (
      UPDATE "Factor" SET ${consumeStep(p.step, p.drift)}
      WHERE "sid" = ${p.factorSid} AND "status" = 'verified'
        AND ${stepUnused(p.step)}
        AND EXISTS (SELECT 1 FROM "Challenge" c WHERE c."sid" = ${p.challengeSid} AND ${isLive(ALIAS_C, p.now)})
      RETURNING "sid"
    ), approved AS (
      UPDATE "Challenge" SET "status" = 'approved', "dateResponded" = ${p.now}::timestamp(3), "dateUpdated" = ${p.now}::timestamp(3)
      WHERE "sid" = ${p.challengeSid} AND "status" = 'pending' AND EXISTS (SELECT 1 FROM consumed)
      RETURNING ${CHALLENGE_COLUMNS}
    )
    SELECT a.*, ${matchingWebhookSids(Prisma.raw('a'), 'challenge.approved')} AS "webhookSids" FROM approved a`,
  );
  const row = rows[0];
  if (!row) return null;
  const { webhookSids, ...challenge } = row;
  return { challenge: challenge as Challenge, webhookSids };
}

// ------------------------------------------------------------------ expiry (atomic)

/**
 * Pending → expired for one challenge, only once it is overdue. Returns the row (with its
 * `challenge.expired` webhook subscribers) when it changed, else null.
 */
export async function expireOne(prisma: PrismaClient, challengeSid: string, now: Date): Promise<ExpiredRow | null> {
  const rows = await prisma.$queryRaw<ExpiredRow[]>`
    WITH expired AS (
      UPDATE "Challenge" SET "status" = 'expired', "dateUpdated" = ${now}::timestamp(3)
      WHERE "sid" = ${challengeSid} AND ${isOverdue(NO_ALIAS, now)}
      RETURNING "sid", "accountSid", "serviceSid", "entitySid", "identity", "factorSid", "expirationDate"
    )
    SELECT e.*, ${matchingWebhookSids(Prisma.raw('e'), 'challenge.expired')} AS "webhookSids" FROM expired e`;
  return rows[0] ?? null;
}

export interface ExpiredRow {
  sid: string;
  accountSid: string;
  serviceSid: string;
  entitySid: string;
  identity: string;
  factorSid: string;
  expirationDate: Date;
  /** Webhooks subscribed to `challenge.expired` in its service, looked up once per service of the batch. */
  webhookSids: string[];
}

/**
 * Expires up to `limit` overdue pending challenges in one statement. SKIP LOCKED lets several
 * workers drain in parallel without waiting on, or double-processing, each other's rows. Each
 * row comes back with its service's `challenge.expired` subscribers, read once per distinct
 * service in the same statement, so the events need no lookup each.
 */
export async function expireOverdueBatch(prisma: PrismaClient, now: Date, limit: number): Promise<ExpiredRow[]> {
  return prisma.$queryRaw<ExpiredRow[]>`
    WITH expired AS (
      UPDATE "Challenge" SET "status" = 'expired', "dateUpdated" = ${now}::timestamp(3)
      WHERE "sid" IN (
        SELECT "sid" FROM "Challenge"
        WHERE ${isOverdue(NO_ALIAS, now)}
        ORDER BY "expirationDate" LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) AND "status" = 'pending'
      RETURNING "sid", "accountSid", "serviceSid", "entitySid", "identity", "factorSid", "expirationDate"
    ), services AS (
      SELECT s."accountSid", s."serviceSid", ${matchingWebhookSids(Prisma.raw('s'), 'challenge.expired')} AS "webhookSids"
      FROM (SELECT DISTINCT "accountSid", "serviceSid" FROM expired) s
    )
    SELECT e.*, s."webhookSids" FROM expired e JOIN services s USING ("accountSid", "serviceSid")`;
}

// ------------------------------------------------------------------ reads and plain writes

export async function findChallenge(prisma: PrismaClient, accountSid: string, sid: string): Promise<Challenge | null> {
  return prisma.challenge.findFirst({ where: { sid, accountSid } });
}

/** A challenge by its REST path (service, identity, SID), inside one account. */
export async function findEntityChallenge(
  prisma: PrismaClient,
  accountSid: string,
  ref: { serviceSid: string; identity: string; challengeSid: string },
): Promise<Challenge | null> {
  return prisma.challenge.findFirst({ where: { sid: ref.challengeSid, serviceSid: ref.serviceSid, identity: ref.identity, accountSid } });
}

/** What the expiry job needs to tell "answered" from "ran early". */
export async function challengeExpiryState(prisma: PrismaClient, sid: string) {
  return prisma.challenge.findUnique({ where: { sid }, select: { sid: true, status: true, expirationDate: true } });
}

export async function setChallengeMetadata(prisma: PrismaClient, sid: string, metadata: Record<string, unknown>): Promise<void> {
  await prisma.challenge.update({ where: { sid }, data: { metadata: metadata as Prisma.InputJsonObject } });
}

/** One page of an entity's challenges, filtered on the effective status (effectiveStatusWhere). */
export function challengePage(
  prisma: PrismaClient,
  filter: {
    entitySid: string;
    accountSid: string;
    serviceSid?: string;
    identity?: string;
    factorSid?: string;
    status?: ChallengeStatus | null;
    now: Date;
  },
  page: { first?: number | null; after?: string | null; order: 'asc' | 'desc' },
) {
  const { status, now, ...where } = filter;
  return keysetPage(prisma.challenge, { ...where, ...effectiveStatusWhere(status, now) }, page);
}
