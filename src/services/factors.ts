import { z } from 'zod';
import type { Factor, Service } from '../generated/prisma/client.ts';
import { Prisma } from '../generated/prisma/client.ts';
import { ConflictError, FactorLimitReachedError, InvalidArgumentError, NotFoundError, TooManyAttemptsError } from '../domain/errors.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { DEFAULT_TOTP_CONFIG, buildKeyUri, encodeBase32, generateSeed, parseBase32Secret, type TotpConfig } from '../domain/totp.ts';
import { encryptSeed, fingerprintSeed } from '../domain/seed-crypto.ts';
import { qrCodeSvg } from '../domain/qr.ts';
import {
  LIMITS,
  authPayloadSchema,
  factorConfigSchema,
  factorFriendlyNameSchema,
  identitySchema,
  pageArgsSchema,
  parseInput,
  stringMapSchema,
} from '../domain/validation.ts';
import * as store from '../db/factor-store.ts';
import { checkChargedCode } from './code-check.ts';
import type { Tenant } from './context.ts';
import type { FactorEvent } from '../events/index.ts';
import { getService } from './services.ts';
import { ensureEntity } from './entities.ts';
import { emit } from './events.ts';
import { audit } from './audit.ts';
import { assertInScope, scopeWhere } from './scope.ts';

export const factorEvent = (type: 'factor.created' | 'factor.verified' | 'factor.updated' | 'factor.deleted', f: Factor): FactorEvent => ({
  type,
  accountSid: f.accountSid,
  serviceSid: f.serviceSid,
  identity: f.identity,
  factorSid: f.sid,
});

export const auditSubject = (f: Factor) => ({ serviceSid: f.serviceSid, entitySid: f.entitySid, factorSid: f.sid });

/** A factor without its secret columns: safe to put in an event (a deleted factor's last state). */
export function publicFactor(f: Factor): Record<string, unknown> {
  const { secretCiphertext: _c, secretKeyId: _k, secretFingerprint: _f, lastUsedTimeStep: _s, ...rest } = f;
  return rest;
}

/** Twilio 60310: a TOTP factor gets 5 verification attempts; then create a new factor. */
export const FACTOR_VERIFY_ATTEMPTS = 5;

export interface FactorConfigInput {
  alg?: 'sha1' | 'sha256' | 'sha512' | null;
  timeStep?: number | null;
  codeLength?: number | null;
  skew?: number | null;
}

export interface CreateTotpFactorInput {
  serviceSid: string;
  identity: string;
  friendlyName: string;
  secret?: string | null;
  config?: FactorConfigInput | null;
  metadata?: Record<string, unknown> | null;
}

export interface TotpBinding {
  secret: string;
  uri: string;
  qrCodeSvg: string;
}

const createInput = z.object({
  serviceSid: z.string(),
  identity: identitySchema,
  friendlyName: factorFriendlyNameSchema,
  secret: z.string().max(256).nullish(),
  config: factorConfigSchema.nullish(),
  metadata: stringMapSchema.nullish(),
});

const updateInput = z.object({
  factorSid: z.string(),
  friendlyName: factorFriendlyNameSchema.nullish(),
  config: factorConfigSchema.nullish(),
  metadata: stringMapSchema.nullish(),
});

export { configOf, factorSeed } from './code-check.ts';

/** Factor input → service defaults → Twilio defaults (SHA1, 6 digits, 30 s, skew 1). */
export function resolveConfig(input: FactorConfigInput | null | undefined, service: Service): TotpConfig {
  return {
    alg: input?.alg ?? DEFAULT_TOTP_CONFIG.alg,
    timeStep: input?.timeStep ?? service.totpTimeStep ?? DEFAULT_TOTP_CONFIG.timeStep,
    codeLength: input?.codeLength ?? service.totpCodeLength ?? DEFAULT_TOTP_CONFIG.codeLength,
    skew: input?.skew ?? service.totpSkew ?? DEFAULT_TOTP_CONFIG.skew,
  };
}

/** A Base32 secret given by the caller, or INVALID_ARGUMENT saying why (never quoting it). */
export function importSecret(secret: string): Uint8Array {
  const r = parseBase32Secret(secret);
  if (r.ok) return r.seed;
  const why = {
    empty: 'is empty',
    invalid_character: 'is not Base32 (A–Z, 2–7)',
    invalid_length: 'has a length no Base32 encoder produces',
    too_short: 'must decode to at least 16 bytes (RFC 4226 §4 R6: 128-bit secrets)',
    too_long: 'must decode to at most 64 bytes',
  }[r.reason];
  throw new InvalidArgumentError('secret', why);
}

/**
 * Enrols a TOTP factor. The entity is created if missing (Twilio's quickstarts never create it
 * first). The seed is returned here, once, as the binding, and never again.
 */
export async function createTotpFactor(t: Tenant, input: CreateTotpFactorInput): Promise<{ factor: Factor; binding: TotpBinding }> {
  const data = parseInput(createInput, input);
  const service = await getService(t, data.serviceSid);
  assertInScope(t, { serviceSid: service.sid, identity: data.identity });
  const { prisma, keyring, fingerprintKey } = t.deps;
  const cfg = resolveConfig(data.config, service);
  const seed = data.secret != null ? importSecret(data.secret) : generateSeed();
  const sid = newSid('factor');
  const { keyId, ciphertext } = encryptSeed(keyring, seed, sid);
  // Keyed fingerprint: finds the same seed on this entity without decrypting every seed (Twilio 60317).
  const fingerprint = fingerprintSeed(fingerprintKey, seed);

  const entity = await ensureEntity(t, service.sid, data.identity);
  const inserted = await store.insertFactor(prisma, {
    entitySid: entity.sid,
    fingerprint,
    limit: LIMITS.factorsPerEntity,
    data: {
      sid,
      accountSid: t.accountSid,
      serviceSid: service.sid,
      identity: entity.identity,
      friendlyName: data.friendlyName.trim(),
      ...cfg,
      metadata: data.metadata ?? undefined,
      secretCiphertext: new Uint8Array(ciphertext),
      secretKeyId: keyId,
    },
  });
  if (inserted.kind === 'limit') throw new FactorLimitReachedError(LIMITS.factorsPerEntity);
  if (inserted.kind === 'duplicate') throw new ConflictError('Factor already exists: this entity has a factor with the same secret', 60317);
  const { factor } = inserted;

  await emit(t.deps, factorEvent('factor.created', factor));
  await audit(t, {
    type: 'factor.created',
    ...auditSubject(factor),
    details: { identity: factor.identity, imported: data.secret != null, ...cfg },
  });
  const secret = encodeBase32(seed);
  seed.fill(0);
  // Twilio: issuer = Service.totp.issuer, else the service's friendly name; account name = factor friendlyName.
  const uri = buildKeyUri({
    issuer: service.totpIssuer ?? service.friendlyName,
    accountName: factor.friendlyName,
    secretBase32: secret,
    alg: cfg.alg,
    digits: cfg.codeLength,
    period: cfg.timeStep,
  });
  return { factor, binding: { secret, uri, qrCodeSvg: await qrCodeSvg(uri) } };
}

export async function findFactor(t: Tenant, sid: string): Promise<Factor | null> {
  if (!isSid('factor', sid)) return null;
  const f = await store.findFactor(t.deps.prisma, t.accountSid, normalizeSid(sid));
  if (f) assertInScope(t, f);
  return f;
}

export async function getFactor(t: Tenant, sid: string): Promise<Factor> {
  const f = await findFactor(t, sid);
  if (!f) throw new NotFoundError('Factor', sid);
  return f;
}

/**
 * A factor addressed the way Twilio's REST paths address it, `Services/{VA}/Entities/{identity}/Factors/{YF}`:
 * the service and identity must match too, else NOT_FOUND (60390) — the same answer as a SID that does not exist.
 */
export async function findEntityFactor(
  t: Tenant,
  ref: { serviceSid: string; identity: string; factorSid: string },
): Promise<Factor | null> {
  if (!isSid('factor', ref.factorSid) || !isSid('service', ref.serviceSid)) return null;
  return store.findEntityFactor(t.deps.prisma, t.accountSid, {
    factorSid: normalizeSid(ref.factorSid),
    serviceSid: normalizeSid(ref.serviceSid),
    identity: ref.identity,
  });
}

export async function getEntityFactor(t: Tenant, ref: { serviceSid: string; identity: string; factorSid: string }): Promise<Factor> {
  const f = await findEntityFactor(t, ref);
  if (!f) throw new NotFoundError('Factor', ref.factorSid);
  return f;
}

/**
 * Verifies enrolment: a correct code inside the skew window makes the factor VERIFIED and uses up
 * its time step; a wrong one is a result (still UNVERIFIED), and after 5 wrong codes the factor is
 * spent (Twilio 60310). Verifying a verified factor changes nothing.
 */
export async function verifyFactor(t: Tenant, input: { factorSid: string; authPayload: string }): Promise<Factor> {
  const code = parseInput(authPayloadSchema, input.authPayload, 'authPayload');
  const factor = await getFactor(t, input.factorSid);
  if (factor.status === 'verified') return factor;
  const { prisma } = t.deps;
  // Twilio 60310: 5 attempts, charged before the code is looked at (code-check.ts).
  if (!(await store.chargeEnrolmentAttempt(prisma, factor.sid, FACTOR_VERIFY_ATTEMPTS))) {
    const fresh = await getFactor(t, factor.sid);
    if (fresh.status === 'verified') return fresh;
    t.deps.metrics.verification('factor', 'max_attempts');
    throw new TooManyAttemptsError(60310, 'Factor verification attempts reached: create a new factor');
  }
  const now = t.deps.now();
  // RFC 6238 §5.2: the step is consumed by the same conditional write that verifies.
  const outcome = await checkChargedCode(t, factor, code, now, async (step, drift) =>
    (await store.verifyWithStep(prisma, { factorSid: factor.sid, step, drift, now })) ? true : null,
  );
  if (outcome.kind === 'accepted') {
    await emit(t.deps, factorEvent('factor.verified', factor));
    await audit(t, { type: 'factor.verified', ...auditSubject(factor), details: { identity: factor.identity } });
  } else if (outcome.kind === 'wrong') {
    await audit(t, {
      type: 'factor.verification_failed',
      ...auditSubject(factor),
      details: { identity: factor.identity, reason: 'wrong_code' },
    });
  }
  t.deps.metrics.verification('factor', outcome.kind === 'accepted' ? 'approved' : 'wrong_code');
  return getFactor(t, factor.sid);
}

/** When the time step length changes, keep every instant already used unusable (RFC 6238 §5.2). */
function convertLastStep(last: bigint | null, from: number, to: number): bigint | null {
  if (last === null || from === to) return last;
  const endOfUsed = (last + 1n) * BigInt(from); // first second after the used step
  return (endOfUsed - 1n) / BigInt(to);
}

/** When the time step length changes, keep the device's clock offset in seconds (RFC 6238 §6), in steps of the new length. */
function convertDrift(drift: number, from: number, to: number, windowSteps: number): number | undefined {
  if (from === to || drift === 0) return undefined;
  return Math.max(-windowSteps, Math.min(windowSteps, Math.round((drift * from) / to)));
}

export async function updateFactor(
  t: Tenant,
  input: { factorSid: string; friendlyName?: string | null; config?: FactorConfigInput | null; metadata?: Record<string, unknown> | null },
): Promise<Factor> {
  const data = parseInput(updateInput, input);
  const factor = await getFactor(t, data.factorSid);
  const c = data.config;
  const timeStep = c?.timeStep ?? factor.timeStep;
  const updated = await store.updateFactorIfUnchanged(t.deps.prisma, factor, {
    friendlyName: data.friendlyName?.trim() ?? undefined,
    alg: c?.alg ?? undefined,
    codeLength: c?.codeLength ?? undefined,
    skew: c?.skew ?? undefined,
    timeStep,
    lastUsedTimeStep: timeStep === factor.timeStep ? undefined : convertLastStep(factor.lastUsedTimeStep, factor.timeStep, timeStep),
    drift: convertDrift(factor.drift, factor.timeStep, timeStep, t.deps.config.resyncWindowSteps),
    metadata: data.metadata === null ? Prisma.DbNull : (data.metadata ?? undefined),
  });
  // A concurrent write or login changed the row between our read and write: apply again on fresh data.
  if (!updated) return updateFactor(t, input);
  await emit(t.deps, factorEvent('factor.updated', factor));
  return getFactor(t, factor.sid);
}

export async function deleteFactor(t: Tenant, sid: string): Promise<{ deletedSid: string }> {
  const factor = await getFactor(t, sid);
  if (!(await store.deleteFactor(t.deps.prisma, t.accountSid, factor.sid))) throw new NotFoundError('Factor', sid);
  await emit(t.deps, { ...factorEvent('factor.deleted', factor), snapshot: publicFactor(factor) });
  await audit(t, { type: 'factor.deleted', ...auditSubject(factor), details: { identity: factor.identity } });
  return { deletedSid: factor.sid };
}

/** `order` (default asc, by creation) lets the REST facade page backwards (Twilio previous_page_url). */
export async function listFactors(
  t: Tenant,
  entitySid: string,
  args: { first?: number | null; after?: string | null; order?: 'asc' | 'desc' | null },
) {
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  return store.factorPage(
    t.deps.prisma,
    { entitySid, accountSid: t.accountSid, ...scopeWhere(t) },
    { ...page, order: args.order ?? 'asc' },
  );
}
