/**
 * Webhooks (Twilio Verify's Webhook resource, twilio-verify-v2-totp.md §9): per-service event
 * subscriptions, delivered at least once by jobs on the workflow engine, signed either the way
 * Twilio signs (form body + X-Twilio-Signature, HMAC-SHA1 with the account's auth token) or with
 * Standard Webhooks (JSON body + webhook-id/-timestamp/-signature, a whsec_ secret).
 *
 * Signing keys. Verity keeps only a hash of auth tokens, yet Twilio's scheme signs with the raw
 * token. So a TWILIO webhook captures the token from the request that creates it (Basic auth with
 * the current token is required) and stores it encrypted under the seed keyring (AES-256-GCM, AAD
 * `webhook:<YW sid>`: a ciphertext copied to another row does not decrypt). updateWebhook
 * re-captures it from its own Basic credentials, and `recaptureAuthToken` re-encrypts every TWILIO
 * webhook of an account when its token rotates. A STANDARD webhook's `whsec_` secret is random,
 * returned once by createWebhook and stored the same way. Neither is ever returned again, logged,
 * put in a job or in a delivery row: jobs carry SIDs, delivery rows SIDs and public fields.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Webhook, WebhookDelivery } from '../generated/prisma/client.ts';
import { ForbiddenError, InvalidArgumentError, NotFoundError } from '../domain/errors.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { SeedDecryptionError, decryptSeed, encryptSeed } from '../domain/seed-crypto.ts';
import { pageArgsSchema, parseInput } from '../domain/validation.ts';
import {
  WEBHOOK_EVENT_TYPES, formBody, formParams, isWebhookEventType, newStandardSecret, retryDelayMs, standardHeaders, twilioSignature,
  type WebhookEventType, type WebhookPayload,
} from '../domain/webhook.ts';
import { keysetPage } from '../db/paging.ts';
import type { VerityEvent } from '../events/index.ts';
import type { Tenant } from './context.ts';
import { requireManagement } from '../auth/index.ts';
import type { Deps } from '../deps.ts';
import { getService } from './services.ts';
import { checkDestination, sendWebhook } from '../infra/webhook-http.ts';

export const DELIVER_WEBHOOK_JOB = 'deliver-webhook';

export type WebhookStatus = 'enabled' | 'disabled';
export type WebhookSigning = 'twilio' | 'standard';
export type WebhookVersion = 'v1' | 'v2';

/** The caller's credentials as far as webhooks care: the raw auth token, when Basic auth presented the current one. */
export interface Caller {
  credential?: string;
}

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

const secretAad = (webhookSid: string) => `webhook:${webhookSid}`;

function sealSecret(deps: Deps, webhookSid: string, secret: string) {
  const { keyId, ciphertext } = encryptSeed(deps.keyring, Buffer.from(secret, 'utf8'), secretAad(webhookSid));
  return { secretKeyId: keyId, secretCiphertext: new Uint8Array(ciphertext) };
}

function openSecret(deps: Deps, w: Pick<Webhook, 'sid' | 'secretKeyId' | 'secretCiphertext'>): string {
  return Buffer.from(decryptSeed(deps.keyring, w.secretKeyId, w.secretCiphertext, secretAad(w.sid))).toString('utf8');
}

/** SSRF rules at creation (VERITY_WEBHOOK_ALLOW_PRIVATE lifts the address rule, never the scheme rule). */
async function checkUrl(deps: Deps, url: string) {
  const problem = await checkDestination(url, deps.config.webhookAllowPrivate);
  if (problem) throw new InvalidArgumentError('webhookUrl', problem);
}

function twilioCredential(caller: Caller): string {
  if (!caller.credential) {
    throw new ForbiddenError(
      'TWILIO signing uses the account auth token, which Verity stores only as a hash: create or update this webhook with ' +
        'Basic AccountSid:AuthToken credentials (the current token), or use signing STANDARD',
    );
  }
  return caller.credential;
}

export async function createWebhook(t: Tenant, input: CreateWebhookInput, caller: Caller): Promise<{ webhook: Webhook; signingSecret: string | null }> {
  requireManagement(t);
  const data = parseInput(createInput, input);
  const service = await getService(t, data.serviceSid);
  const signing = data.signing ?? 'twilio';
  const secret = signing === 'twilio' ? twilioCredential(caller) : newStandardSecret();
  await checkUrl(t.deps, data.webhookUrl);
  const sid = newSid('webhook');
  const webhook = await t.deps.prisma.webhook.create({
    data: {
      sid, accountSid: t.accountSid, serviceSid: service.sid, friendlyName: data.friendlyName, webhookUrl: data.webhookUrl,
      eventTypes: data.eventTypes, status: data.status ?? 'enabled', version: data.version ?? 'v2', signing,
      ...sealSecret(t.deps, sid, secret),
      dateCreated: t.deps.now(), dateUpdated: t.deps.now(),
    },
  });
  return { webhook, signingSecret: signing === 'standard' ? secret : null };
}

export async function findWebhook(t: Tenant, sid: string): Promise<Webhook | null> {
  if (!isSid('webhook', sid)) return null;
  return t.deps.prisma.webhook.findFirst({ where: { sid: normalizeSid(sid), accountSid: t.accountSid } });
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
  return t.deps.prisma.webhook.update({
    where: { sid: w.sid },
    data: {
      friendlyName: data.friendlyName ?? undefined,
      webhookUrl: data.webhookUrl ?? undefined,
      eventTypes: data.eventTypes ?? undefined,
      status: data.status ?? undefined,
      version: data.version ?? undefined,
      ...(w.signing === 'twilio' && caller.credential ? sealSecret(t.deps, w.sid, caller.credential) : {}),
      dateUpdated: t.deps.now(),
    },
  });
}

/** Deleting a webhook deletes its deliveries; jobs still queued for them find nothing and stop. */
export async function deleteWebhook(t: Tenant, sid: string, serviceSid?: string): Promise<{ deletedSid: string }> {
  requireManagement(t);
  const w = await getWebhook(t, sid, serviceSid);
  const deleted = await t.deps.prisma.webhook.deleteMany({ where: { sid: w.sid, accountSid: t.accountSid } });
  if (deleted.count === 0) throw new NotFoundError('Webhook', sid);
  return { deletedSid: w.sid };
}

export async function listWebhooks(t: Tenant, serviceSid: string, args: { first?: number | null; after?: string | null; order?: 'asc' | 'desc' | null }) {
  const service = await getService(t, serviceSid);
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  return keysetPage(t.deps.prisma.webhook, { serviceSid: service.sid, accountSid: t.accountSid }, { ...page, order: args.order ?? 'asc' });
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
  return keysetPage(t.deps.prisma.webhookDelivery, where, { ...page, order: args.order ?? 'desc' });
}

export async function findWebhookDelivery(t: Tenant, sid: string): Promise<WebhookDelivery | null> {
  if (!isSid('webhookDelivery', sid)) return null;
  return t.deps.prisma.webhookDelivery.findFirst({ where: { sid: normalizeSid(sid), accountSid: t.accountSid } });
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
  const updated = await t.deps.prisma.webhookDelivery.update({
    where: { sid: d.sid },
    data: {
      status: 'pending', attempts: 0, generation: { increment: 1 }, nextAttemptAt: new Date(), lastError: null, lastStatusCode: null,
      deliveredAt: null,
    },
  });
  await scheduleAttempt(t.deps, updated, 1, new Date());
  return updated;
}

/** Called when an account's auth token rotates: TWILIO webhooks sign with the new token from then on. */
export async function recaptureAuthToken(deps: Deps, accountSid: string, authToken: string): Promise<number> {
  const hooks = await deps.prisma.webhook.findMany({ where: { accountSid, signing: 'twilio' }, select: { sid: true } });
  for (const h of hooks) await deps.prisma.webhook.update({ where: { sid: h.sid }, data: sealSecret(deps, h.sid, authToken) });
  return hooks.length;
}

// ------------------------------------------------------------------ fan-out (called by emit)

const twilioDate = (d: Date | string) => new Date(d).toISOString().replace(/\.[0-9]{3}Z$/, 'Z');

/**
 * The body's fields: Twilio's names (twilio-verify-v2-totp.md §9), SIDs and public fields only.
 * Read once, when the event happens, and stored with the delivery: every attempt sends the same body.
 */
async function buildPayload(deps: Deps, event: VerityEvent & { type: WebhookEventType }, uuid: string): Promise<WebhookPayload> {
  const p: WebhookPayload = {
    uuid, type: event.type, account_sid: event.accountSid, service_sid: event.serviceSid, entity_identity: event.identity,
    factor_sid: event.factorSid, factor_type: 'totp',
  };
  const factor =
    'snapshot' in event && event.snapshot
      ? (event.snapshot as { friendlyName?: string; status?: string; metadata?: unknown })
      : await deps.prisma.factor.findFirst({
          where: { sid: event.factorSid, accountSid: event.accountSid },
          select: { friendlyName: true, status: true, metadata: true },
        });
  p.factor_friendly_name = factor?.friendlyName ?? null;
  p.factor_metadata = (factor?.metadata as Record<string, unknown> | null | undefined) ?? null;
  if (event.type.startsWith('factor.')) p.factor_status = event.type === 'factor.verified' ? 'verified' : (factor?.status ?? null);
  if ('challengeSid' in event) {
    const c = await deps.prisma.challenge.findFirst({ where: { sid: event.challengeSid, accountSid: event.accountSid } });
    p.challenge_sid = event.challengeSid;
    p.challenge_status = event.type.slice('challenge.'.length);
    if (c) {
      p.challenge_details = { message: c.detailsMessage, date: twilioDate(c.dateCreated), fields: (c.detailsFields as unknown[] | null) ?? [] };
      p.challenge_hidden_details = (c.hiddenDetails as Record<string, unknown> | null) ?? null;
      p.challenge_metadata = (c.metadata as Record<string, unknown> | null) ?? null;
      p.challenge_expiration_date = twilioDate(c.expirationDate);
      p.challenge_date_responded = c.dateResponded ? twilioDate(c.dateResponded) : null;
    }
  }
  return p;
}

/**
 * One delivery row per enabled webhook of the event's own account and service that subscribes to
 * its type, then the first attempt's job. The rows come first: a job lost to a Redis outage is
 * re-enqueued from them by reconciliation.
 */
export async function fanOutWebhooks(deps: Deps, event: VerityEvent, knownSids?: string[]): Promise<number> {
  if (!isWebhookEventType(event.type)) return 0;
  // Looked up by the statement that made the change (same rule, src/db/webhook-match.ts), or here.
  const hooks = knownSids ? knownSids.map((sid) => ({ sid })) : await deps.prisma.webhook.findMany({
    where: {
      accountSid: event.accountSid, serviceSid: event.serviceSid, status: 'enabled',
      OR: [{ eventTypes: { has: event.type } }, { eventTypes: { has: '*' } }],
    },
    select: { sid: true },
  });
  if (hooks.length === 0) return 0;
  const uuid = randomUUID();
  const payload = await buildPayload(deps, event as VerityEvent & { type: WebhookEventType }, uuid);
  const now = new Date();
  const rows = hooks.map((h) => ({
    sid: newSid('webhookDelivery'), accountSid: event.accountSid, serviceSid: event.serviceSid, webhookSid: h.sid,
    eventUuid: uuid, eventType: event.type, payload: payload as object, nextAttemptAt: now, dateCreated: deps.now(), dateUpdated: deps.now(),
  }));
  await deps.prisma.webhookDelivery.createMany({ data: rows, skipDuplicates: true });
  for (const r of rows) await scheduleAttempt(deps, { ...r, generation: 0 }, 1, now);
  return rows.length;
}

/**
 * One job per attempt, its id derived from the delivery, series and attempt number: enqueueing it
 * twice (fan-out and reconciliation racing) is a no-op. Data: SIDs and the event's uuid and type.
 */
async function scheduleAttempt(
  deps: Deps,
  d: Pick<WebhookDelivery, 'sid' | 'webhookSid' | 'eventUuid' | 'eventType' | 'generation'>,
  attempt: number,
  runAt: Date,
): Promise<void> {
  try {
    await deps.jobs.enqueue(
      DELIVER_WEBHOOK_JOB,
      { deliverySid: d.sid, webhookSid: d.webhookSid, eventUuid: d.eventUuid, eventType: d.eventType, generation: d.generation, attempt },
      // Engine-level retries only cover the handler itself failing (database down); HTTP failures are
      // recorded and retried by the next job in the series, with the configured backoff.
      { jobId: `webhook-${d.sid}-${d.generation}-${attempt}`, runAt, attempts: 3, backoffMs: 1_000 },
    );
  } catch (err) {
    deps.logger.warn({ err, deliverySid: d.sid }, 'could not enqueue webhook delivery; reconciliation will retry');
  }
}

// ------------------------------------------------------------------ delivery (job handler)

/** A delivery's request: body, headers, signature. The signing key is decrypted here and only here. */
function buildRequest(deps: Deps, w: Webhook, d: WebhookDelivery, at: Date): { headers: Record<string, string>; body: string } {
  const payload = d.payload as WebhookPayload;
  const key = openSecret(deps, w);
  if (w.signing === 'standard') {
    const body = JSON.stringify(payload);
    return { body, headers: { 'content-type': 'application/json', ...standardHeaders(key, d.eventUuid, at, body) } };
  }
  const params = formParams(payload);
  return {
    body: formBody(params),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilioSignature(key, w.webhookUrl, params),
      // Twilio's retry-dedup header: the event uuid, the same on every attempt.
      'i-twilio-idempotency-token': d.eventUuid,
    },
  };
}

export interface DeliverJobData {
  deliverySid: string;
  generation: number;
  attempt: number;
}

/**
 * One attempt. Stands down unless the delivery is still waiting for exactly this attempt of this
 * series (duplicates, old series, deleted webhooks). Records the outcome with a conditional write,
 * then schedules the next attempt (exponential backoff with jitter) or declares the delivery DEAD.
 * A crash between the request and the write re-runs the attempt (at least once; receivers dedupe on uuid).
 */
export async function deliverWebhookJob(deps: Deps, job: DeliverJobData): Promise<void> {
  const d = await deps.prisma.webhookDelivery.findUnique({ where: { sid: job.deliverySid }, include: { webhook: true } });
  if (!d || d.generation !== job.generation || d.attempts !== job.attempt - 1 || (d.status !== 'pending' && d.status !== 'failed')) return;
  const { webhook: w, ...delivery } = d;
  const cfg = deps.config;
  let result: Awaited<ReturnType<typeof sendWebhook>> | undefined;
  if (w.status !== 'enabled') {
    result = { ok: false, error: 'webhook is disabled', refused: true };
  } else {
    let request: ReturnType<typeof buildRequest> | undefined;
    try {
      request = buildRequest(deps, w, delivery, new Date()); // wall clock: receivers compare webhook-timestamp with theirs
    } catch (e) {
      if (!(e instanceof SeedDecryptionError)) throw e;
      deps.logger.error({ webhookSid: w.sid, keyId: w.secretKeyId, reason: e.reason }, 'webhook signing key cannot be decrypted');
      result = { ok: false, error: `signing key unavailable (key id "${w.secretKeyId}")`, refused: true };
    }
    if (request) {
      result = await sendWebhook({ url: w.webhookUrl, ...request, timeoutMs: cfg.webhookTimeoutMs, allowPrivate: cfg.webhookAllowPrivate });
    }
  }
  result ??= { ok: false, error: 'not sent' };
  const attempt = job.attempt;
  const last = result.ok || result.refused || attempt >= cfg.webhookMaxAttempts;
  const nextAttemptAt = last ? null : new Date(Date.now() + retryDelayMs(cfg.webhookBackoffMs, attempt));
  const status = result.ok ? 'succeeded' : last ? 'dead' : 'failed';
  const recorded = await deps.prisma.webhookDelivery.updateMany({
    where: { sid: d.sid, generation: job.generation, attempts: attempt - 1 },
    data: {
      status, attempts: attempt, nextAttemptAt, lastStatusCode: result.statusCode ?? null, lastError: result.ok ? null : (result.error ?? null),
      deliveredAt: result.ok ? new Date() : null,
    },
  });
  if (recorded.count === 0) return; // a redelivery or a duplicate got there first
  deps.metrics.webhookDelivery(status === 'succeeded' ? 'delivered' : status);
  if (status === 'dead') deps.logger.warn({ deliverySid: d.sid, webhookSid: w.sid, attempts: attempt, error: result.error }, 'webhook delivery dead');
  if (nextAttemptAt) await scheduleAttempt(deps, delivery, attempt + 1, nextAttemptAt);
}

/**
 * Safety net (runs with expiry reconciliation): deliveries whose next attempt is overdue by more
 * than `graceMs` get their job again — same id, so a job still queued or running makes it a no-op.
 */
export async function reconcileWebhookDeliveries(deps: Deps, graceMs = 30_000, batchSize = 500): Promise<number> {
  const overdue = await deps.prisma.webhookDelivery.findMany({
    where: { status: { in: ['pending', 'failed'] }, nextAttemptAt: { lte: new Date(Date.now() - graceMs) } },
    orderBy: { nextAttemptAt: 'asc' },
    take: batchSize,
  });
  for (const d of overdue) await scheduleAttempt(deps, d, d.attempts + 1, new Date());
  return overdue.length;
}
