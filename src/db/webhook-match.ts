import { Prisma } from '../generated/prisma/client.ts';

/**
 * SQL for "the enabled webhooks of this row's account and service subscribed to `eventType` (or
 * `*`)", as a `text[]` of SIDs — the same rule as fanOutWebhooks' own lookup — so a statement that
 * changes a challenge can return its subscribers too, and the event needs no lookup of its own.
 * `row` is an SQL alias with "accountSid" and "serviceSid" columns.
 */
export const matchingWebhookSids = (row: Prisma.Sql, eventType: string): Prisma.Sql => Prisma.sql`ARRAY(
  SELECT w."sid" FROM "Webhook" w
  WHERE w."accountSid" = ${row}."accountSid" AND w."serviceSid" = ${row}."serviceSid" AND w."status" = 'enabled'
    AND w."eventTypes" && ARRAY[${eventType}, '*']::text[]
  ORDER BY w."sid")`;
