/**
 * Webhook signing keys and destinations. Webhooks (Twilio Verify's Webhook resource,
 * docs/twilio-verify-v2-totp.md §9) are per-service event subscriptions, delivered at least once by jobs on the workflow engine, signed either the way
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
import { ForbiddenError, InvalidArgumentError } from '../domain/errors.ts';
import { decryptSeed, encryptSeed } from '../domain/seed-crypto.ts';
import type { Webhook } from '../generated/prisma/client.ts';
import { webhookSecretAad } from '../domain/webhook.ts';
import * as store from '../db/webhook-store.ts';
import { checkDestination } from '../infra/webhook-http.ts';
import type { Deps } from '../deps.ts';

/** The caller's credentials as far as webhooks care: the raw auth token, when Basic auth presented the current one. */
export interface Caller {
  credential?: string;
}

export function sealSecret(deps: Deps, webhookSid: string, secret: string) {
  const { keyId, ciphertext } = encryptSeed(deps.keyring, Buffer.from(secret, 'utf8'), webhookSecretAad(webhookSid));
  return { secretKeyId: keyId, secretCiphertext: new Uint8Array(ciphertext) };
}

export function openSecret(deps: Deps, w: Pick<Webhook, 'sid' | 'secretKeyId' | 'secretCiphertext'>): string {
  return Buffer.from(decryptSeed(deps.keyring, w.secretKeyId, w.secretCiphertext, webhookSecretAad(w.sid))).toString('utf8');
}

/** SSRF rules at creation (VERITY_WEBHOOK_ALLOW_PRIVATE lifts the address rule, never the scheme rule). */
export async function checkUrl(deps: Deps, url: string) {
  const problem = await checkDestination(url, deps.config.webhookAllowPrivate);
  if (problem) throw new InvalidArgumentError('webhookUrl', problem);
}

export function twilioCredential(caller: Caller): string {
  if (!caller.credential) {
    throw new ForbiddenError(
      'TWILIO signing uses the account auth token, which Verity stores only as a hash: create or update this webhook with ' +
        'Basic AccountSid:AuthToken credentials (the current token), or use signing STANDARD',
    );
  }
  return caller.credential;
}

/** Called when an account's auth token rotates: TWILIO webhooks sign with the new token from then on. */
export async function recaptureAuthToken(deps: Deps, accountSid: string, authToken: string): Promise<number> {
  const sids = await store.twilioWebhookSids(deps.prisma, accountSid);
  for (const sid of sids) await store.setWebhookSecret(deps.prisma, sid, sealSecret(deps, sid, authToken));
  return sids.length;
}
