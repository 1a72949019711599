import type { Webhook, WebhookDelivery } from '../generated/prisma/client.ts';
import { SeedDecryptionError } from '../domain/seed-crypto.ts';
import { formBody, formParams, retryDelayMs, standardHeaders, twilioSignature, type WebhookPayload } from '../domain/webhook.ts';
import * as store from '../db/webhook-store.ts';
import { sendWebhook } from '../infra/webhook-http.ts';
import type { Deps } from '../deps.ts';
import { openSecret } from './webhook-sealing.ts';
import { scheduleAttempt } from './webhook-fanout.ts';

// Delivery (the job handler): one attempt per job, recorded with a conditional write; and the
// reconciliation that re-enqueues attempts whose job was lost.

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
  const d = await store.deliveryWithWebhook(deps.prisma, job.deliverySid);
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
  const now = deps.now();
  const nextAttemptAt = last ? null : new Date(now.getTime() + retryDelayMs(cfg.webhookBackoffMs, attempt));
  const status = result.ok ? 'succeeded' : last ? 'dead' : 'failed';
  const recorded = await store.recordAttempt(
    deps.prisma,
    { sid: d.sid, generation: job.generation, attempt },
    {
      status,
      nextAttemptAt,
      lastStatusCode: result.statusCode ?? null,
      lastError: result.ok ? null : (result.error ?? null),
      deliveredAt: result.ok ? now : null,
    },
  );
  if (!recorded) return; // a redelivery or a duplicate got there first
  deps.metrics.webhookDelivery(status === 'succeeded' ? 'delivered' : status);
  if (status === 'dead')
    deps.logger.warn({ deliverySid: d.sid, webhookSid: w.sid, attempts: attempt, error: result.error }, 'webhook delivery dead');
  if (nextAttemptAt) await scheduleAttempt(deps, delivery, attempt + 1, nextAttemptAt);
}

/**
 * Safety net (runs with expiry reconciliation): deliveries whose next attempt is overdue by more
 * than `graceMs` get their job again — same id, so a job still queued or running makes it a no-op.
 */
export async function reconcileWebhookDeliveries(deps: Deps, graceMs = 30_000, batchSize = 500): Promise<number> {
  const now = deps.now();
  const overdue = await store.overdueDeliveries(deps.prisma, new Date(now.getTime() - graceMs), batchSize);
  for (const d of overdue) await scheduleAttempt(deps, d, d.attempts + 1, now);
  return overdue.length;
}
