import { randomUUID } from 'node:crypto';
import type { WebhookDelivery } from '../generated/prisma/client.ts';
import { newSid } from '../domain/sid.ts';
import { isWebhookEventType, type WebhookEventType, type WebhookPayload } from '../domain/webhook.ts';
import * as store from '../db/webhook-store.ts';
import { findChallenge } from '../db/challenge-store.ts';
import { factorForPayload } from '../db/factor-store.ts';
import type { VerityEvent } from '../events/index.ts';
import type { Deps } from '../deps.ts';

// Fan-out (called by emit): one delivery row per subscribed webhook, then each first attempt's job.

export const DELIVER_WEBHOOK_JOB = 'deliver-webhook';

const twilioDate = (d: Date | string) => new Date(d).toISOString().replace(/\.[0-9]{3}Z$/, 'Z');

/**
 * The body's fields: Twilio's names (docs/twilio-verify-v2-totp.md §9), SIDs and public fields only.
 * Read once, when the event happens, and stored with the delivery: every attempt sends the same body.
 */
async function buildPayload(deps: Deps, event: VerityEvent & { type: WebhookEventType }, uuid: string): Promise<WebhookPayload> {
  if ('entitySid' in event) {
    // Recovery codes (a Verity extension, no Twilio body to mirror): the entity and the count left, never a code.
    return {
      uuid,
      type: event.type,
      account_sid: event.accountSid,
      service_sid: event.serviceSid,
      entity_sid: event.entitySid,
      entity_identity: event.identity,
      recovery_codes_remaining: event.recoveryCodesRemaining,
    };
  }
  const p: WebhookPayload = {
    uuid,
    type: event.type,
    account_sid: event.accountSid,
    service_sid: event.serviceSid,
    entity_identity: event.identity,
    factor_sid: event.factorSid,
    factor_type: 'totp',
  };
  const factor =
    'snapshot' in event && event.snapshot
      ? (event.snapshot as { friendlyName?: string; status?: string; metadata?: unknown })
      : await factorForPayload(deps.prisma, event.accountSid, event.factorSid);
  p.factor_friendly_name = factor?.friendlyName ?? null;
  p.factor_metadata = (factor?.metadata as Record<string, unknown> | null | undefined) ?? null;
  if (event.type.startsWith('factor.')) p.factor_status = event.type === 'factor.verified' ? 'verified' : (factor?.status ?? null);
  if ('challengeSid' in event) {
    const c = await findChallenge(deps.prisma, event.accountSid, event.challengeSid);
    p.challenge_sid = event.challengeSid;
    p.challenge_status = event.type.slice('challenge.'.length);
    if (c) {
      p.challenge_details = {
        message: c.detailsMessage,
        date: twilioDate(c.dateCreated),
        fields: (c.detailsFields as unknown[] | null) ?? [],
      };
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
  // Looked up by the statement that made the change, or here: the same rule (webhook-store matchingWebhookSids).
  const hooks =
    knownSids ??
    (await store.subscribedWebhookSids(deps.prisma, { accountSid: event.accountSid, serviceSid: event.serviceSid, eventType: event.type }));
  if (hooks.length === 0) return 0;
  const uuid = randomUUID();
  const payload = await buildPayload(deps, event as VerityEvent & { type: WebhookEventType }, uuid);
  const now = deps.now();
  const rows = hooks.map((webhookSid) => ({
    sid: newSid('webhookDelivery'),
    accountSid: event.accountSid,
    serviceSid: event.serviceSid,
    webhookSid,
    eventUuid: uuid,
    eventType: event.type,
    payload: payload as object,
    nextAttemptAt: now,
    dateCreated: now,
    dateUpdated: now,
  }));
  await store.insertDeliveries(deps.prisma, rows);
  for (const r of rows) await scheduleAttempt(deps, { ...r, generation: 0 }, 1, now);
  return rows.length;
}

/**
 * One job per attempt, its id derived from the delivery, series and attempt number: enqueueing it
 * twice (fan-out and reconciliation racing) is a no-op. Data: SIDs and the event's uuid and type.
 */
export async function scheduleAttempt(
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
