// Webhook bodies, signatures and retry timing: pure functions (docs/twilio-verify-v2-totp.md §9).
import { createHmac, randomBytes } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';

/** Twilio Verify's webhook event names, plus Verity's `challenge.expired` and recovery-code events; `*` subscribes to all. */
export const WEBHOOK_EVENT_TYPES = [
  'factor.created',
  'factor.verified',
  'factor.deleted',
  'challenge.approved',
  'challenge.denied',
  'challenge.expired',
  'entity.recovery_codes.generated',
  'entity.recovery_code.redeemed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (t: string): t is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(t);

/** The body's fields (snake_case, Twilio's names). JSON values stay structured; the form body stringifies them. */
export type WebhookPayload = Record<string, string | number | boolean | null | Record<string, unknown> | unknown[]>;

/** Form encoding of a payload: nulls are left out, objects and arrays are sent as JSON strings (as Twilio does). */
export function formParams(payload: WebhookPayload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload)) {
    if (v === null || v === undefined) continue;
    out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

export const formBody = (params: Record<string, string>) => new URLSearchParams(params).toString();

/**
 * `X-Twilio-Signature`: Base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
 * sorted by name)) — twilio-node `webhooks.ts` getExpectedTwilioSignature, which
 * `twilio.validateRequest` recomputes on the receiving side.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (shown once, at creation). */
export const newStandardSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * Standard Webhooks headers for one attempt, signed by the `standardwebhooks` package itself —
 * the same code receivers verify with, so signer and verifier cannot drift. `webhook-id` is the
 * event's uuid: stable across retries, so receivers deduplicate on it.
 */
export function standardHeaders(secret: string, msgId: string, at: Date, body: string): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new StandardWebhook(secret).sign(msgId, at, body),
  };
}

const MAX_BACKOFF_MS = 3_600_000;

/**
 * Wait before attempt `attempt + 1` after `attempt` failures: base * 2^(attempt-1), capped at an
 * hour, with "equal jitter" (half fixed, half random) so receivers that failed together are not
 * retried in lockstep, while the wait never drops below half the curve.
 */
export function retryDelayMs(baseMs: number, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** GCM additional data of a webhook's sealed signing key: binds the ciphertext to its webhook (a copy on another row does not decrypt). */
export const webhookSecretAad = (webhookSid: string) => `webhook:${webhookSid}`;
