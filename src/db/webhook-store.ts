import { Prisma, type Webhook, type WebhookDelivery } from '../generated/prisma/client.ts';
import type { PrismaClient } from './client.ts';
import { keysetPage } from './paging.ts';

// The Webhook aggregate's persistence (webhooks and their delivery rows): every statement that
// reads or writes "Webhook" or "WebhookDelivery", and the subscription rule as SQL.

// ------------------------------------------------------------------ who subscribes

// The subscription rule, written once: an enabled webhook of the row's service whose event types hold the type or '*'.
const enabledIn = (row: Prisma.Sql) =>
  Prisma.sql`w."accountSid" = ${row}."accountSid" AND w."serviceSid" = ${row}."serviceSid" AND w."status" = 'enabled'`;
const subscribesTo = (eventType: string) => Prisma.sql`w."eventTypes" && ARRAY[${eventType}, '*']::text[]`;

/**
 * SQL for "the enabled webhooks of this row's account and service subscribed to `eventType` (or
 * `*`)", as a `text[]` of SIDs, from the rule above: fan-out's own lookup
 * (subscribedWebhookSids) uses it, and so can a statement that changes a challenge, returning its
 * subscribers so the event needs no lookup of its own. `row` is an SQL alias with "accountSid"
 * and "serviceSid" columns.
 */
export const matchingWebhookSids = (row: Prisma.Sql, eventType: string): Prisma.Sql => Prisma.sql`ARRAY(
  SELECT w."sid" FROM "Webhook" w
  WHERE ${enabledIn(row)} AND ${subscribesTo(eventType)}
  ORDER BY w."sid")`;

/**
 * matchingWebhookSids for several event types from one scan of the service's webhooks: a subquery
 * with one `text[]` column per entry of `types` (named by its key), for a `LATERAL` join.
 */
export const matchingWebhookSidsEach = (row: Prisma.Sql, types: Record<string, string>): Prisma.Sql => Prisma.sql`(
  SELECT ${Prisma.join(
    Object.entries(types).map(
      ([as, eventType]) =>
        Prisma.sql`COALESCE(array_agg(w."sid" ORDER BY w."sid") FILTER (WHERE ${subscribesTo(eventType)}), '{}') AS ${Prisma.raw(`"${as}"`)}`,
    ),
  )}
  FROM "Webhook" w WHERE ${enabledIn(row)})`;

export async function subscribedWebhookSids(
  prisma: PrismaClient,
  p: { accountSid: string; serviceSid: string; eventType: string },
): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ webhookSids: string[] }[]>`
    SELECT ${matchingWebhookSids(Prisma.raw('r'), p.eventType)} AS "webhookSids"
    FROM (SELECT ${p.accountSid}::text AS "accountSid", ${p.serviceSid}::text AS "serviceSid") r`;
  return rows[0]?.webhookSids ?? [];
}

// ------------------------------------------------------------------ webhooks

export async function insertWebhook(prisma: PrismaClient, data: Prisma.WebhookUncheckedCreateInput): Promise<Webhook> {
  return prisma.webhook.create({ data });
}

export async function findWebhook(prisma: PrismaClient, accountSid: string, sid: string): Promise<Webhook | null> {
  return prisma.webhook.findFirst({ where: { sid, accountSid } });
}

export async function updateWebhook(prisma: PrismaClient, sid: string, data: Prisma.WebhookUncheckedUpdateInput): Promise<Webhook> {
  return prisma.webhook.update({ where: { sid }, data });
}

/** Deleting a webhook deletes its deliveries (cascade). False when it was already gone. */
export async function deleteWebhook(prisma: PrismaClient, accountSid: string, sid: string): Promise<boolean> {
  const deleted = await prisma.webhook.deleteMany({ where: { sid, accountSid } });
  return deleted.count === 1;
}

export function webhookPage(
  prisma: PrismaClient,
  where: { serviceSid: string; accountSid: string },
  page: { first?: number | null; after?: string | null; order: 'asc' | 'desc' },
) {
  return keysetPage(prisma.webhook, where, page);
}

/** The account's TWILIO-signing webhooks (their key is the account's auth token). */
export async function twilioWebhookSids(prisma: PrismaClient, accountSid: string): Promise<string[]> {
  const hooks = await prisma.webhook.findMany({ where: { accountSid, signing: 'twilio' }, select: { sid: true } });
  return hooks.map((h) => h.sid);
}

export type SealedSecret = { secretKeyId: string; secretCiphertext: Uint8Array<ArrayBuffer> };

export async function setWebhookSecret(prisma: PrismaClient, sid: string, sealed: SealedSecret): Promise<void> {
  await prisma.webhook.update({ where: { sid }, data: sealed });
}

/** Signing keys not under `keyId` (few rows: one per webhook). */
export async function webhookSecretsNotUnder(prisma: PrismaClient, keyId: string) {
  return prisma.webhook.findMany({
    where: { secretKeyId: { not: keyId } },
    select: { sid: true, secretKeyId: true, secretCiphertext: true },
  });
}

/** Rewrites a signing key only if still under the key it was read with (a concurrent change wins). */
export async function rewriteWebhookSecret(prisma: PrismaClient, sid: string, fromKeyId: string, sealed: SealedSecret): Promise<void> {
  await prisma.webhook.updateMany({ where: { sid, secretKeyId: fromKeyId }, data: sealed });
}

// ------------------------------------------------------------------ deliveries

export type NewDelivery = Prisma.WebhookDeliveryCreateManyInput;

/** The deliveries of one event; a row already there (same webhook and event) is left alone. */
export async function insertDeliveries(prisma: PrismaClient, rows: NewDelivery[]): Promise<void> {
  await prisma.webhookDelivery.createMany({ data: rows, skipDuplicates: true });
}

export async function findDelivery(prisma: PrismaClient, accountSid: string, sid: string): Promise<WebhookDelivery | null> {
  return prisma.webhookDelivery.findFirst({ where: { sid, accountSid } });
}

export function deliveryPage(
  prisma: PrismaClient,
  where: { webhookSid: string; accountSid: string; status?: WebhookDelivery['status'] },
  page: { first?: number | null; after?: string | null; order: 'asc' | 'desc' },
) {
  return keysetPage(prisma.webhookDelivery, where, page);
}

/** A new series of attempts: attempts back to 0 and a new generation, so jobs of the old series stand down. */
export async function restartDelivery(prisma: PrismaClient, sid: string, now: Date): Promise<WebhookDelivery> {
  return prisma.webhookDelivery.update({
    where: { sid },
    data: {
      status: 'pending',
      attempts: 0,
      generation: { increment: 1 },
      nextAttemptAt: now,
      lastError: null,
      lastStatusCode: null,
      deliveredAt: null,
    },
  });
}

export async function deliveryWithWebhook(prisma: PrismaClient, sid: string) {
  return prisma.webhookDelivery.findUnique({ where: { sid }, include: { webhook: true } });
}

/**
 * Records attempt `attempt` of series `generation`, only if the row still waits for exactly that
 * attempt: false when a redelivery or a duplicate job got there first.
 */
export async function recordAttempt(
  prisma: PrismaClient,
  p: { sid: string; generation: number; attempt: number },
  data: Pick<WebhookDelivery, 'status' | 'nextAttemptAt' | 'lastStatusCode' | 'lastError' | 'deliveredAt'>,
): Promise<boolean> {
  const recorded = await prisma.webhookDelivery.updateMany({
    where: { sid: p.sid, generation: p.generation, attempts: p.attempt - 1 },
    data: { ...data, attempts: p.attempt },
  });
  return recorded.count === 1;
}

/** Deliveries still to attempt whose next attempt was due by `dueBy`, oldest first. */
export async function overdueDeliveries(prisma: PrismaClient, dueBy: Date, take: number): Promise<WebhookDelivery[]> {
  return prisma.webhookDelivery.findMany({
    where: { status: { in: ['pending', 'failed'] }, nextAttemptAt: { lte: dueBy } },
    orderBy: { nextAttemptAt: 'asc' },
    take,
  });
}
