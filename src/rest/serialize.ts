/**
 * Resources as Twilio's JSON: snake_case keys, lowercase enum strings, `YYYY-MM-DDTHH:mm:ssZ`
 * dates, and absolute `url`/`links` under VERITY_PUBLIC_URL (docs/twilio-verify-v2-totp.md §3–6).
 * twilio-node follows `meta.next_page_url` verbatim, so every URL here is absolute.
 */
import type { Challenge, Entity, Factor, Service, Webhook } from '../generated/prisma/client.ts';
import type { TotpBinding } from '../services/factors.ts';

/** Twilio's timestamp format: ISO 8601 UTC without milliseconds. */
export const twilioDate = (d: Date): string => d.toISOString().replace(/\.[0-9]{3}Z$/, 'Z');
const twilioDateOrNull = (d: Date | null): string | null => (d ? twilioDate(d) : null);

/** Every URL the REST layer hands out, from one origin. Identities go in unencoded (alphanumerics and dashes). */
export class Urls {
  readonly v2: string;
  constructor(publicUrl: string) {
    this.v2 = `${publicUrl.replace(/\/$/, '')}/v2`;
  }
  services = () => `${this.v2}/Services`;
  service = (sid: string) => `${this.services()}/${sid}`;
  entities = (serviceSid: string) => `${this.service(serviceSid)}/Entities`;
  entity = (serviceSid: string, identity: string) => `${this.entities(serviceSid)}/${identity}`;
  factors = (serviceSid: string, identity: string) => `${this.entity(serviceSid, identity)}/Factors`;
  factor = (serviceSid: string, identity: string, sid: string) => `${this.factors(serviceSid, identity)}/${sid}`;
  challenges = (serviceSid: string, identity: string) => `${this.entity(serviceSid, identity)}/Challenges`;
  challenge = (serviceSid: string, identity: string, sid: string) => `${this.challenges(serviceSid, identity)}/${sid}`;
  recoveryCodes = (serviceSid: string, identity: string) => `${this.entity(serviceSid, identity)}/RecoveryCodes`;
  factorImport = (serviceSid: string) => `${this.service(serviceSid)}/Factors/Import`;
  webhooks = (serviceSid: string) => `${this.service(serviceSid)}/Webhooks`;
  webhook = (serviceSid: string, sid: string) => `${this.webhooks(serviceSid)}/${sid}`;
}

export function serviceJson(urls: Urls, s: Service) {
  const url = urls.service(s.sid);
  return {
    sid: s.sid,
    account_sid: s.accountSid,
    friendly_name: s.friendlyName,
    // Channels Verity does not run (SMS, voice, push, WhatsApp, passkeys): present, empty.
    code_length: null,
    lookup_enabled: false,
    psd2_enabled: false,
    skip_sms_to_landlines: false,
    dtmf_input_required: false,
    tts_name: null,
    do_not_share_warning_enabled: false,
    custom_code_enabled: false,
    push: { include_date: false, apn_credential_sid: null, fcm_credential_sid: null },
    totp: { issuer: s.totpIssuer, time_step: s.totpTimeStep, code_length: s.totpCodeLength, skew: s.totpSkew },
    default_template_sid: null,
    whatsapp: { msg_service_sid: null, from: null },
    passkeys: null,
    verify_event_subscription_enabled: false,
    date_created: twilioDate(s.dateCreated),
    date_updated: twilioDate(s.dateUpdated),
    url,
    // Only what Verity answers: Twilio's other sub-resources (Verifications, RateLimits,
    // AccessTokens…) would be 404 here, and a link promises a resource.
    links: {
      entities: `${url}/Entities`,
      webhooks: `${url}/Webhooks`,
    },
  };
}

export function entityJson(urls: Urls, e: Entity) {
  const factors = urls.factors(e.serviceSid, e.identity);
  return {
    sid: e.sid,
    identity: e.identity,
    account_sid: e.accountSid,
    service_sid: e.serviceSid,
    date_created: twilioDate(e.dateCreated),
    date_updated: twilioDate(e.dateUpdated),
    url: urls.entity(e.serviceSid, e.identity),
    links: { factors, new_factors: factors, challenges: urls.challenges(e.serviceSid, e.identity) },
  };
}

/** A new recovery-code set (Verity extension): the only response that ever holds the codes. */
export function recoveryCodesJson(urls: Urls, e: Entity, codes: string[]) {
  return {
    account_sid: e.accountSid,
    service_sid: e.serviceSid,
    entity_sid: e.sid,
    identity: e.identity,
    codes,
    recovery_codes_remaining: codes.length,
    url: urls.recoveryCodes(e.serviceSid, e.identity),
  };
}

/** `imported` counts items whose factor exists now (created, or there already); every other item is in `errors`. */
export function factorImportJson(
  urls: Urls,
  accountSid: string,
  serviceSid: string,
  r: { imported: number; errors: { index: number; code: string; message: string }[] },
) {
  return { account_sid: accountSid, service_sid: serviceSid, imported: r.imported, errors: r.errors, url: urls.factorImport(serviceSid) };
}

export function factorJson(urls: Urls, f: Factor) {
  return {
    sid: f.sid,
    account_sid: f.accountSid,
    service_sid: f.serviceSid,
    entity_sid: f.entitySid,
    identity: f.identity,
    date_created: twilioDate(f.dateCreated),
    date_updated: twilioDate(f.dateUpdated),
    friendly_name: f.friendlyName,
    status: f.status,
    factor_type: f.factorType,
    config: { alg: f.alg, skew: f.skew, code_length: f.codeLength, time_step: f.timeStep },
    metadata: f.metadata ?? null,
    // Verity extension (RFC 6238 §6 clock drift, in time steps): Twilio's SDKs ignore fields they do not know.
    drift: f.drift,
    url: urls.factor(f.serviceSid, f.identity, f.sid),
  };
}

/** The create response only: Twilio returns `binding` once ({secret, uri} for TOTP) and `options: null`. */
export function newFactorJson(urls: Urls, f: Factor, binding: TotpBinding) {
  const { url, ...rest } = factorJson(urls, f);
  return { ...rest, binding: { secret: binding.secret, uri: binding.uri }, options: null, url };
}

export function challengeJson(urls: Urls, c: Challenge) {
  const url = urls.challenge(c.serviceSid, c.identity, c.sid);
  return {
    sid: c.sid,
    account_sid: c.accountSid,
    service_sid: c.serviceSid,
    entity_sid: c.entitySid,
    identity: c.identity,
    factor_sid: c.factorSid,
    date_created: twilioDate(c.dateCreated),
    date_updated: twilioDate(c.dateUpdated),
    date_responded: twilioDateOrNull(c.dateResponded),
    expiration_date: twilioDate(c.expirationDate),
    status: c.status,
    responded_reason: c.respondedReason,
    details: {
      message: c.detailsMessage,
      date: twilioDate(c.dateCreated),
      fields: (c.detailsFields as { label: string; value: string }[] | null) ?? [],
    },
    hidden_details: c.hiddenDetails ?? null,
    metadata: c.metadata ?? null,
    factor_type: 'totp',
    url,
    links: {}, // Twilio's Notifications are push-only: Verity has none to link to
  };
}

/** Twilio's Webhook resource (docs/twilio-verify-v2-totp.md §9). The signing key is never part of it. */
export function webhookJson(urls: Urls, w: Webhook) {
  return {
    sid: w.sid,
    service_sid: w.serviceSid,
    account_sid: w.accountSid,
    friendly_name: w.friendlyName,
    event_types: w.eventTypes,
    status: w.status,
    version: w.version,
    webhook_url: w.webhookUrl,
    webhook_method: 'POST',
    date_created: twilioDate(w.dateCreated),
    date_updated: twilioDate(w.dateUpdated),
    url: urls.webhook(w.serviceSid, w.sid),
  };
}
