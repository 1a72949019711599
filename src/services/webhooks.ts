import { z } from 'zod';
import type { Webhook, WebhookDelivery } from '../generated/prisma/client.ts';
import { NotFoundError } from '../domain/errors.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { pageArgsSchema, parseInput } from '../domain/validation.ts';
import { WEBHOOK_EVENT_TYPES, isWebhookEventType, newStandardSecret } from '../domain/webhook.ts';
import * as store from '../db/webhook-store.ts';
import type { Tenant } from './context.ts';
import { requireManagement } from '../auth/index.ts';
import { getService } from './services.ts';
import { checkUrl, sealSecret, twilioCredential, type Caller } from './webhook-sealing.ts';
import { scheduleAttempt } from './webhook-fanout.ts';

// Webhooks and their deliveries as a tenant manages them (Twilio Verify's Webhook resource).
// Signing keys: webhook-sealing.ts; fan-out: webhook-fanout.ts; attempts: webhook-delivery.ts.

export type { Caller };

export type WebhookStatus = 'enabled' | 'disabled';
export type WebhookSigning = 'twilio' | 'standard';
export type WebhookVersion = 'v1' | 'v2';

const eventTypesSchema = z
  .array(z.string().refine((t) => t === '*' || isWebhookEventType(t), `must be * or one of ${WEBHOOK_EVENT_TYPES.join(', ')}`))
  .min(1, 'give at least one event type')
  .max(WEBHOOK_EVENT_TYPES.length + 1, 'too many event types')
  .transform((a) => [...new Set(a)]);
const urlSchema = z.string().trim().min(1, 'is required').max(2048, 'must be at most 2048 characters');
const nameSchema = z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters');

const createInput = z.object({
  serviceSid: z.string(),
  friendlyName: nameSchema,
  webhookUrl: urlSchema,
  eventTypes: eventTypesSchema,
  status: z.enum(['enabled', 'disabled']).nullish(),
  version: z.enum(['v1', 'v2']).nullish(),
  signing: z.enum(['twilio', 'standard']).nullish(),
});

const updateInput = z.object({
  sid: z.string(),
  friendlyName: nameSchema.nullish(),
  webhookUrl: urlSchema.nullish(),
  eventTypes: eventTypesSchema.nullish(),
  status: z.enum(['enabled', 'disabled']).nullish(),
  version: z.enum(['v1', 'v2']).nullish(),
});

export type CreateWebhookInput = z.input<typeof createInput>;
export type UpdateWebhookInput = z.input<typeof updateInput>;

export async function createWebhook(
  t: Tenant,
  input: CreateWebhookInput,
  caller: Caller,
): Promise<{ webhook: Webhook; signingSecret: string | null }> {
  requireManagement(t);
  const data = parseInput(createInput, input);
  const service = await getService(t, data.serviceSid);
  const signing = data.signing ?? 'twilio';
  const secret = signing === 'twilio' ? twilioCredential(caller) : newStandardSecret();
  await checkUrl(t.deps, data.webhookUrl);
  const sid = newSid('webhook');
  const webhook = await store.insertWebhook(t.deps.prisma, {
    sid,
    accountSid: t.accountSid,
    serviceSid: service.sid,
    friendlyName: data.friendlyName,
    webhookUrl: data.webhookUrl,
    eventTypes: data.eventTypes,
    status: data.status ?? 'enabled',
    version: data.version ?? 'v2',
    signing,
    ...sealSecret(t.deps, sid, secret),
    dateCreated: t.deps.now(),
    dateUpdated: t.deps.now(),
  });
  return { webhook, signingSecret: signing === 'standard' ? secret : null };
}

export async function findWebhook(t: Tenant, sid: string): Promise<Webhook | null> {
  if (!isSid('webhook', sid)) return null;
  return store.findWebhook(t.deps.prisma, t.accountSid, normalizeSid(sid));
}

export async function getWebhook(t: Tenant, sid: string, serviceSid?: string): Promise<Webhook> {
  const w = await findWebhook(t, sid);
  // Under a REST path the webhook must belong to the path's service too (else 404, like a SID that does not exist).
  if (!w || (serviceSid !== undefined && w.serviceSid !== serviceSid)) throw new NotFoundError('Webhook', sid);
  return w;
}

/** Fields left out are kept. A TWILIO webhook updated with Basic credentials re-captures the current token. */
export async function updateWebhook(t: Tenant, input: UpdateWebhookInput, caller: Caller, serviceSid?: string): Promise<Webhook> {
  requireManagement(t);
  const data = parseInput(updateInput, input);
  const w = await getWebhook(t, data.sid, serviceSid);
  if (data.webhookUrl != null) await checkUrl(t.deps, data.webhookUrl);
  return store.updateWebhook(t.deps.prisma, w.sid, {
    friendlyName: data.friendlyName ?? undefined,
    webhookUrl: data.webhookUrl ?? undefined,
    eventTypes: data.eventTypes ?? undefined,
    status: data.status ?? undefined,
    version: data.version ?? undefined,
    ...(w.signing === 'twilio' && caller.credential ? sealSecret(t.deps, w.sid, caller.credential) : {}),
    dateUpdated: t.deps.now(),
  });
}

/** Deleting a webhook deletes its deliveries; jobs still queued for them find nothing and stop. */
export async function deleteWebhook(t: Tenant, sid: string, serviceSid?: string): Promise<{ deletedSid: string }> {
  requireManagement(t);
  const w = await getWebhook(t, sid, serviceSid);
  if (!(await store.deleteWebhook(t.deps.prisma, t.accountSid, w.sid))) throw new NotFoundError('Webhook', sid);
  return { deletedSid: w.sid };
}

export async function listWebhooks(
  t: Tenant,
  serviceSid: string,
  args: { first?: number | null; after?: string | null; order?: 'asc' | 'desc' | null },
) {
  const service = await getService(t, serviceSid);
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  return store.webhookPage(t.deps.prisma, { serviceSid: service.sid, accountSid: t.accountSid }, { ...page, order: args.order ?? 'asc' });
}

/** Newest first by default: a delivery log is read from the latest event back. */
export async function listWebhookDeliveries(
  t: Tenant,
  webhookSid: string,
  args: { first?: number | null; after?: string | null; order?: 'asc' | 'desc' | null; status?: WebhookDelivery['status'] | null },
) {
  const w = await getWebhook(t, webhookSid);
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  const where = { webhookSid: w.sid, accountSid: t.accountSid, ...(args.status ? { status: args.status } : {}) };
  return store.deliveryPage(t.deps.prisma, where, { ...page, order: args.order ?? 'desc' });
}

export async function findWebhookDelivery(t: Tenant, sid: string): Promise<WebhookDelivery | null> {
  if (!isSid('webhookDelivery', sid)) return null;
  return store.findDelivery(t.deps.prisma, t.accountSid, normalizeSid(sid));
}

export async function getWebhookDelivery(t: Tenant, sid: string): Promise<WebhookDelivery> {
  const d = await findWebhookDelivery(t, sid);
  if (!d) throw new NotFoundError('WebhookDelivery', sid);
  return d;
}

/**
 * Sends the event again, whatever the delivery's state: a new series of attempts (attempts back to
 * 0, a new generation so jobs of the old series stand down), same uuid and payload.
 */
export async function redeliverWebhookDelivery(t: Tenant, sid: string): Promise<WebhookDelivery> {
  const d = await getWebhookDelivery(t, sid);
  const now = t.deps.now();
  const updated = await store.restartDelivery(t.deps.prisma, d.sid, now);
  await scheduleAttempt(t.deps, updated, 1, now);
  return updated;
}
