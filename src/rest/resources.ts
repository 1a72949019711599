/**
 * The REST handlers: each parses Twilio parameters, calls the same service functions GraphQL
 * calls, and serialises the result. No rule lives here: limits, tenancy, state machines and
 * errors all come from src/services and src/domain.
 *
 * Nested resources are scoped as Twilio scopes them: the path's service SID and identity must
 * match the factor or challenge (60390 / 60391), else 404 — like a SID that does not exist.
 */
import type { Tenant } from '../services/context.ts';
import { createWebhook, deleteWebhook, getWebhook, listWebhooks, updateWebhook, type Caller } from '../services/webhooks.ts';
import { createService, deleteService, getService, listServices, updateService } from '../services/services.ts';
import { createEntity, deleteEntity, getEntity, listEntities } from '../services/entities.ts';
import { createTotpFactor, deleteFactor, getEntityFactor, listFactors, updateFactor, verifyFactor } from '../services/factors.ts';
import { resyncFactor } from '../services/factor-resync.ts';
import { checkImportSize, importTotpFactors, type ImportItem, type ImportItemError } from '../services/factor-import.ts';
import { getEntityChallenge, listChallenges } from '../services/challenges.ts';
import { createChallenge, verifyChallenge } from '../services/challenge-attempts.ts';
import { generateRecoveryCodes, redeemRecoveryCode } from '../services/recovery-codes.ts';
import type { CreateChallengeInput } from '../services/challenge-input.ts';
import { InvalidArgumentError, VerityError } from '../domain/errors.ts';
import { authPayloadSchema, parseInput } from '../domain/validation.ts';
import { defined, type Form } from './forms.ts';
import type { Params } from './router.ts';
import { twilioPage } from './paging.ts';
import {
  challengeJson,
  entityJson,
  factorJson,
  factorImportJson,
  newFactorJson,
  recoveryCodesJson,
  serviceJson,
  webhookJson,
  type Urls,
} from './serialize.ts';

export interface RestRequest {
  tenant: Tenant;
  /** The Basic credentials' raw token (TWILIO-signed webhooks capture it); never echoed or logged. */
  caller: Caller;
  params: Params;
  /** The query string (GET, DELETE) or the form body (POST). */
  form: Form;
  urls: Urls;
}

export type Handler = (r: RestRequest) => Promise<Response>;

const ok = (body: unknown) => Response.json(body, { status: 200 });
const created = (body: unknown) => Response.json(body, { status: 201 });
const noContent = () => new Response(null, { status: 204 });

const param = (r: RestRequest, name: string) => r.params[name] ?? '';

/** `Totp.*` → the service's TOTP defaults; undefined when no Totp parameter was sent (keep them). */
function totpDefaults(form: Form) {
  const totp = form.group('Totp');
  if (totp.isEmpty()) return undefined;
  return defined({
    issuer: totp.string('Issuer'),
    timeStep: totp.int('TimeStep'),
    codeLength: totp.int('CodeLength'),
    skew: totp.int('Skew'),
  });
}

/** `Config.*` of a TOTP factor (push-only Config keys are ignored, as they mean nothing here). */
function factorConfig(form: Form) {
  const c = form.group('Config');
  const config = defined({
    alg: c.oneOf('Alg', ['sha1', 'sha256', 'sha512'] as const),
    timeStep: c.int('TimeStep'),
    codeLength: c.int('CodeLength'),
    skew: c.int('Skew'),
  });
  return Object.keys(config).length ? config : undefined;
}

const asObject = (v: unknown) => v as Record<string, unknown> | undefined;

// ------------------------------------------------------------------ Services

export const services = {
  async create(r) {
    const s = await createService(r.tenant, { friendlyName: r.form.required('FriendlyName'), totp: totpDefaults(r.form) });
    return created(serviceJson(r.urls, s));
  },
  async list(r) {
    return ok(
      await twilioPage({
        form: r.form,
        key: 'services',
        listUrl: r.urls.services(),
        list: (args) => listServices(r.tenant, args),
        toJson: (s) => serviceJson(r.urls, s),
      }),
    );
  },
  async fetch(r) {
    return ok(serviceJson(r.urls, await getService(r.tenant, param(r, 'sid'))));
  },
  async update(r) {
    const s = await updateService(r.tenant, {
      sid: param(r, 'sid'),
      friendlyName: r.form.string('FriendlyName'),
      totp: totpDefaults(r.form),
    });
    return ok(serviceJson(r.urls, s));
  },
  async remove(r) {
    await deleteService(r.tenant, param(r, 'sid'));
    return noContent();
  },
} satisfies Record<string, Handler>;

// ------------------------------------------------------------------ Entities

export const entities = {
  async create(r) {
    const e = await createEntity(r.tenant, { serviceSid: param(r, 'serviceSid'), identity: r.form.required('Identity') });
    return created(entityJson(r.urls, e));
  },
  async list(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    return ok(
      await twilioPage({
        form: r.form,
        key: 'entities',
        listUrl: r.urls.entities(service.sid),
        list: (args) => listEntities(r.tenant, service.sid, args),
        toJson: (e) => entityJson(r.urls, e),
      }),
    );
  },
  async fetch(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    return ok(entityJson(r.urls, await getEntity(r.tenant, service.sid, param(r, 'identity'))));
  },
  async remove(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    await deleteEntity(r.tenant, service.sid, param(r, 'identity'));
    return noContent();
  },
} satisfies Record<string, Handler>;

// ------------------------------------------------------------------ Factors

/** The path's service (20404 when it is not this account's), then the factor scoped by service + identity (60390). */
async function scopedFactor(r: RestRequest) {
  const service = await getService(r.tenant, param(r, 'serviceSid'));
  return getEntityFactor(r.tenant, { serviceSid: service.sid, identity: param(r, 'identity'), factorSid: param(r, 'sid') });
}

export const factors = {
  /** `POST …/Entities/{identity}/Factors` (twilio-node: `newFactors.create`); the entity is created if missing. */
  async create(r) {
    const friendlyName = r.form.required('FriendlyName');
    const type = r.form.required('FactorType');
    if (type !== 'totp') {
      // Twilio 60369 names a factor type this service cannot create: Verity is TOTP only.
      throw new VerityError('INVALID_ARGUMENT', 60369, 400, `Invalid parameter: FactorType: ${type} factors are not supported (totp only)`);
    }
    const { factor, binding } = await createTotpFactor(r.tenant, {
      serviceSid: param(r, 'serviceSid'),
      identity: param(r, 'identity'),
      friendlyName,
      secret: r.form.group('Binding').string('Secret'),
      config: factorConfig(r.form),
      metadata: asObject(r.form.json('Metadata')),
    });
    return created(newFactorJson(r.urls, factor, binding));
  },
  async list(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    const entity = await getEntity(r.tenant, service.sid, param(r, 'identity'));
    return ok(
      await twilioPage({
        form: r.form,
        key: 'factors',
        listUrl: r.urls.factors(service.sid, entity.identity),
        list: (args) => listFactors(r.tenant, entity.sid, args),
        toJson: (f) => factorJson(r.urls, f),
      }),
    );
  },
  async fetch(r) {
    return ok(factorJson(r.urls, await scopedFactor(r)));
  },
  /**
   * Update and/or verify (Twilio: "can be used to Verify a Factor if passed an AuthPayload").
   * Changes apply first, so a code is checked against the config it was sent with; the code's
   * format is checked before anything changes, so a bad request changes nothing.
   */
  async update(r) {
    let factor = await scopedFactor(r);
    const authPayload = r.form.string('AuthPayload');
    const changes = defined({
      friendlyName: r.form.string('FriendlyName'),
      config: factorConfig(r.form),
      metadata: asObject(r.form.json('Metadata')),
    });
    if (Object.keys(changes).length) {
      if (authPayload !== undefined) parseInput(authPayloadSchema, authPayload, 'authPayload');
      factor = await updateFactor(r.tenant, { factorSid: factor.sid, ...changes });
    }
    if (authPayload !== undefined) factor = await verifyFactor(r.tenant, { factorSid: factor.sid, authPayload });
    return ok(factorJson(r.urls, factor));
  },
  /**
   * Verity extension, `POST …/Factors/{sid}/Resync` (Twilio has no such resource): RFC 6238 §6
   * resynchronisation with two consecutive codes, `AuthPayload1` then `AuthPayload2`, or the
   * repeated key `AuthPayloads` in order. Answers the factor, with its new `drift`.
   */
  async resync(r) {
    const factor = await scopedFactor(r);
    const numbered = [r.form.string('AuthPayload1'), r.form.string('AuthPayload2')].filter((c) => c !== undefined);
    const authPayloads = numbered.length ? numbered : r.form.all('AuthPayloads');
    return ok(factorJson(r.urls, await resyncFactor(r.tenant, { factorSid: factor.sid, authPayloads })));
  },
  async remove(r) {
    const factor = await scopedFactor(r);
    await deleteFactor(r.tenant, factor.sid);
    return noContent();
  },
} satisfies Record<string, Handler>;

// ------------------------------------------------------------------ Challenges

async function scopedChallenge(r: RestRequest) {
  const service = await getService(r.tenant, param(r, 'serviceSid'));
  return getEntityChallenge(r.tenant, { serviceSid: service.sid, identity: param(r, 'identity'), challengeSid: param(r, 'sid') });
}

const CHALLENGE_STATUSES = ['pending', 'expired', 'approved', 'denied'] as const;

export const challenges = {
  async create(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    // The factor must be this entity's: FactorSid from another entity is 60390, as if it did not exist.
    const factor = await getEntityFactor(r.tenant, {
      serviceSid: service.sid,
      identity: param(r, 'identity'),
      factorSid: r.form.required('FactorSid'),
    });
    const d = r.form.group('Details');
    const details = d.isEmpty() ? undefined : defined({ message: d.string('Message'), fields: d.jsonList('Fields') });
    const c = await createChallenge(r.tenant, {
      factorSid: factor.sid,
      authPayload: r.form.string('AuthPayload'),
      expirationDate: r.form.date('ExpirationDate'),
      details: details as CreateChallengeInput['details'], // shape checked by the service (label/value, limits)
      hiddenDetails: asObject(r.form.json('HiddenDetails')),
      metadata: asObject(r.form.json('Metadata')),
    });
    return created(challengeJson(r.urls, c));
  },
  async list(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    const entity = await getEntity(r.tenant, service.sid, param(r, 'identity'));
    const factorSid = r.form.string('FactorSid');
    const status = r.form.oneOf('Status', CHALLENGE_STATUSES);
    const order = r.form.oneOf('Order', ['asc', 'desc'] as const);
    return ok(
      await twilioPage({
        form: r.form,
        key: 'challenges',
        listUrl: r.urls.challenges(service.sid, entity.identity),
        filters: [
          ['FactorSid', factorSid],
          ['Status', status],
          ['Order', order],
        ],
        order: order ?? 'asc', // Twilio's default order is ascending by creation
        list: (args) => listChallenges(r.tenant, entity.sid, { ...args, factorSid, status }),
        toJson: (c) => challengeJson(r.urls, c),
      }),
    );
  },
  async fetch(r) {
    return ok(challengeJson(r.urls, await scopedChallenge(r)));
  },
  /** Verify: `AuthPayload` is required for TOTP (push's signed payloads do not exist here). */
  async update(r) {
    const challenge = await scopedChallenge(r);
    const c = await verifyChallenge(r.tenant, {
      challengeSid: challenge.sid,
      authPayload: r.form.required('AuthPayload'),
      metadata: asObject(r.form.json('Metadata')),
    });
    return ok(challengeJson(r.urls, c));
  },
} satisfies Record<string, Handler>;

// ------------------------------------------------------------------ Webhooks

const WEBHOOK_STATUSES = ['enabled', 'disabled'] as const;
const WEBHOOK_VERSIONS = ['v1', 'v2'] as const;

/** `EventTypes` is a repeated parameter (twilio-node sends one per item). */
const eventTypes = (form: Form) => {
  const all = form.all('EventTypes');
  return all.length ? all : undefined;
};

export const webhooks = {
  /** Twilio signs webhooks with the auth token: REST-created webhooks are TWILIO-signed, with this request's token. */
  async create(r) {
    const { webhook } = await createWebhook(
      r.tenant,
      {
        serviceSid: param(r, 'serviceSid'),
        friendlyName: r.form.required('FriendlyName'),
        webhookUrl: r.form.required('WebhookUrl'),
        eventTypes: eventTypes(r.form) ?? [],
        status: r.form.oneOf('Status', WEBHOOK_STATUSES),
        version: r.form.oneOf('Version', WEBHOOK_VERSIONS),
        signing: 'twilio',
      },
      r.caller,
    );
    return created(webhookJson(r.urls, webhook));
  },
  async list(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    return ok(
      await twilioPage({
        form: r.form,
        key: 'webhooks',
        listUrl: r.urls.webhooks(service.sid),
        list: (args) => listWebhooks(r.tenant, service.sid, args),
        toJson: (w) => webhookJson(r.urls, w),
      }),
    );
  },
  async fetch(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    return ok(webhookJson(r.urls, await getWebhook(r.tenant, param(r, 'sid'), service.sid)));
  },
  async update(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    const w = await updateWebhook(
      r.tenant,
      {
        sid: param(r, 'sid'),
        friendlyName: r.form.string('FriendlyName'),
        webhookUrl: r.form.string('WebhookUrl'),
        eventTypes: eventTypes(r.form),
        status: r.form.oneOf('Status', WEBHOOK_STATUSES),
        version: r.form.oneOf('Version', WEBHOOK_VERSIONS),
      },
      r.caller,
      service.sid,
    );
    return ok(webhookJson(r.urls, w));
  },
  async remove(r) {
    const service = await getService(r.tenant, param(r, 'serviceSid'));
    await deleteWebhook(r.tenant, param(r, 'sid'), service.sid);
    return noContent();
  },
} satisfies Record<string, Handler>;

// ------------------------------------------------------------------ Recovery codes (Verity extension)

/** Twilio has no such resource: Verity's own paths under the entity, in Twilio's style (form in, snake_case JSON out). */
export const recoveryCodes = {
  /** `POST …/Entities/{identity}/RecoveryCodes`: a new set, replacing the old; the codes appear in this response only. */
  async generate(r) {
    const { codes, entity } = await generateRecoveryCodes(r.tenant, { serviceSid: param(r, 'serviceSid'), identity: param(r, 'identity') });
    return created(recoveryCodesJson(r.urls, entity, codes));
  },
  /** `POST …/Entities/{identity}/RecoveryCodes/Redeem` with `Code`: a wrong code is 200 `valid: false`, not an error. */
  async redeem(r) {
    const result = await redeemRecoveryCode(r.tenant, {
      serviceSid: param(r, 'serviceSid'),
      identity: param(r, 'identity'),
      code: r.form.required('Code'),
    });
    return ok(result);
  },
} satisfies Record<string, Handler>;

// ------------------------------------------------------------------ Factor import (Verity extension)

/** An item's keys as the REST client writes them (snake_case, like the JSON Verity answers) → the use case's. */
const IMPORT_KEYS: Record<string, string> = { friendly_name: 'friendlyName', code_length: 'codeLength', time_step: 'timeStep' };
const IMPORT_FIELDS = Object.fromEntries(Object.entries(IMPORT_KEYS).map(([rest, ours]) => [ours, rest]));
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One `Factors` value → an item for the use case (its rules are checked there), or why it cannot be read at all. */
function importItemOf(text: string): { item: unknown } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return { error: 'Invalid parameter: Factors: each value must be a JSON object' };
  }
  if (!isPlainObject(value)) return { error: 'Invalid parameter: Factors: each value must be a JSON object' };
  const rename = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [IMPORT_KEYS[k] ?? k, v]));
  const item = rename(value);
  if (isPlainObject(item.config)) item.config = rename(item.config);
  return { item: item as unknown as ImportItem };
}

/** The use case names fields as GraphQL does (`config.timeStep`); a REST client sent `config.time_step`. */
function restMessage(message: string): string {
  return message.replace(/^(Invalid parameter: )([\w.]+)(:)/, (_m, head: string, field: string, colon: string) => {
    return (
      head +
      field
        .split('.')
        .map((p) => IMPORT_FIELDS[p] ?? p)
        .join('.') +
      colon
    );
  });
}

/**
 * Verity extension, `POST /v2/Services/{ServiceSid}/Factors/Import` (Twilio has no import): the
 * `importTotpFactors` use case over a form. `Factors` is repeated, one JSON object per factor
 * (`{"identity", "secret", "friendly_name", "config": {"alg", "code_length", "time_step", "skew"},
 * "verified"}`), as twilio-node sends JSON-typed list items. Each item is all or nothing and is
 * answered by its position: a value that is not even a JSON object is reported like any bad item.
 */
export const factorImport = {
  async create(r) {
    const values = r.form.all('Factors');
    if (values.length === 0) throw new InvalidArgumentError('Factors', 'is required: one JSON object per factor, the key repeated');
    checkImportSize(values.length);
    const parsed = values.map(importItemOf);
    const readable: number[] = [];
    const errors: ImportItemError[] = [];
    parsed.forEach((p, index) => {
      if ('item' in p) readable.push(index);
      else errors.push({ index, code: 'INVALID_ARGUMENT', message: p.error });
    });
    const serviceSid = param(r, 'serviceSid');
    const result = await importTotpFactors(r.tenant, {
      serviceSid,
      factors: readable.map((i) => (parsed[i] as { item: ImportItem }).item),
    });
    for (const e of result.errors) errors.push({ ...e, index: readable[e.index]!, message: restMessage(e.message) });
    errors.sort((x, y) => x.index - y.index);
    return ok(factorImportJson(r.urls, r.tenant.accountSid, serviceSid, { imported: result.imported, errors }));
  },
} satisfies Record<string, Handler>;
