import type { Factor } from '../generated/prisma/client.ts';
import { compatibilityWarnings } from '../domain/totp.ts';
import { builder } from './builder.ts';
import { NodeInterface } from './node.ts';
import { connectionOf, DeletePayload } from './common.ts';
import { EntityType } from './entity.ts';
import { getEntityBySid } from '../services/entities.ts';
import { resyncFactor } from '../services/factor-resync.ts';
import { configOf, createTotpFactor, deleteFactor, findFactor, updateFactor, verifyFactor, type TotpBinding } from '../services/factors.ts';

export const FactorStatusEnum = builder.enumType('FactorStatus', {
  values: { UNVERIFIED: { value: 'unverified' }, VERIFIED: { value: 'verified' } } as const,
});
export const FactorTypeEnum = builder.enumType('FactorType', { values: { TOTP: { value: 'totp' } } as const });
export const TotpAlgorithmEnum = builder.enumType('TotpAlgorithm', {
  values: { SHA1: { value: 'sha1' }, SHA256: { value: 'sha256' }, SHA512: { value: 'sha512' } } as const,
});

const FactorConfig = builder.objectRef<Factor>('FactorConfig').implement({
  fields: (t) => ({
    alg: t.field({ type: TotpAlgorithmEnum, resolve: (f) => f.alg }),
    skew: t.exposeInt('skew'),
    codeLength: t.exposeInt('codeLength'),
    timeStep: t.exposeInt('timeStep'),
  }),
});

const CompatibilityWarning = builder.objectRef<ReturnType<typeof compatibilityWarnings>[number]>('CompatibilityWarning').implement({
  description: 'A reason some authenticator apps will show codes that do not verify with this config',
  fields: (t) => ({
    code: t.exposeString('code'),
    message: t.exposeString('message'),
    apps: t.exposeStringList('apps'),
  }),
});

// No field of this type can reach the seed: the binding exists only on CreateTotpFactorPayload.
export const FactorType = builder.prismaObject('Factor', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    accountSid: t.exposeID('accountSid'),
    serviceSid: t.exposeID('serviceSid'),
    entitySid: t.exposeID('entitySid'),
    identity: t.exposeString('identity'),
    friendlyName: t.exposeString('friendlyName'),
    status: t.field({ type: FactorStatusEnum, resolve: (f) => f.status }),
    factorType: t.field({ type: FactorTypeEnum, resolve: (f) => f.factorType }),
    config: t.field({ type: FactorConfig, resolve: (f) => f }),
    drift: t.exposeInt('drift', {
      description:
        'RFC 6238 §6: how many time steps the authenticator’s clock is off, recorded by resyncFactor and by accepted codes one step off; checks are centred on now + drift. 0 until then',
    }),
    metadata: t.field({ type: 'JSONObject', nullable: true, resolve: (f) => f.metadata }),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
    dateUpdated: t.expose('dateUpdated', { type: 'DateTime' }),
    // By SID rather than through the factor row, so a deleted factor's last state still resolves.
    entity: t.field({ type: EntityType, resolve: (f, _a, ctx) => getEntityBySid(ctx.scopedTenant(), f.entitySid) }),
    compatibilityWarnings: t.field({ type: [CompatibilityWarning], resolve: (f) => compatibilityWarnings(configOf(f)) }),
  }),
});

export const FactorConnection = connectionOf('Factor', FactorType);

const TotpBindingType = builder.objectRef<TotpBinding>('TotpBinding').implement({
  description: 'Returned once, when the factor is created: the seed is never readable again',
  fields: (t) => ({
    secret: t.exposeString('secret', { description: 'Base32 seed (RFC 4648), no padding' }),
    uri: t.exposeString('uri', { description: 'otpauth://totp/… Key URI for authenticator apps' }),
    qrCodeSvg: t.exposeString('qrCodeSvg', { description: 'The uri as a QR code, SVG markup' }),
  }),
});

const CreateTotpFactorPayload = builder.objectRef<{ factor: Factor; binding: TotpBinding }>('CreateTotpFactorPayload').implement({
  fields: (t) => ({
    factor: t.field({ type: FactorType, resolve: (p) => p.factor }),
    binding: t.field({ type: TotpBindingType, resolve: (p) => p.binding }),
  }),
});

export const FactorConfigInput = builder.inputType('FactorConfigInput', {
  fields: (t) => ({
    alg: t.field({ type: TotpAlgorithmEnum, description: 'Default SHA1' }),
    skew: t.int({ description: '0–2; default: the service’s, else 1' }),
    codeLength: t.int({ description: '3–8; default: the service’s, else 6' }),
    timeStep: t.int({ description: '20–60 s; default: the service’s, else 30' }),
  }),
});

const CreateTotpFactorInput = builder.inputType('CreateTotpFactorInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    identity: t.string({ required: true, description: 'The entity; created if missing' }),
    friendlyName: t.string({ required: true, description: 'At most 64 characters; the account name in authenticator apps' }),
    secret: t.string({ description: 'Import an existing Base32 seed (≥ 16 bytes); generated when absent' }),
    config: t.field({ type: FactorConfigInput }),
    metadata: t.field({ type: 'JSONObject', description: 'String values only, ≤ 1024 characters serialised' }),
  }),
});

const VerifyFactorInput = builder.inputType('VerifyFactorInput', {
  fields: (t) => ({
    factorSid: t.id({ required: true }),
    authPayload: t.string({ required: true, description: 'The code from the authenticator app' }),
  }),
});

const UpdateFactorInput = builder.inputType('UpdateFactorInput', {
  fields: (t) => ({
    factorSid: t.id({ required: true }),
    friendlyName: t.string(),
    config: t.field({ type: FactorConfigInput }),
    metadata: t.field({ type: 'JSONObject', description: 'Replaces the metadata; null clears it' }),
  }),
});

const ResyncFactorInput = builder.inputType('ResyncFactorInput', {
  fields: (t) => ({
    factorSid: t.id({ required: true }),
    authPayloads: t.stringList({
      required: true,
      description: 'Two consecutive codes from the authenticator, in the order it showed them (wait for the code to change once)',
    }),
  }),
});

builder.queryField('factor', (t) =>
  t.field({
    type: FactorType,
    nullable: true,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => findFactor(ctx.scopedTenant(), sid),
  }),
);

builder.mutationFields((t) => ({
  createTotpFactor: t.field({
    type: CreateTotpFactorPayload,
    args: { input: t.arg({ type: CreateTotpFactorInput, required: true }) },
    resolve: (_r, { input }, ctx) => createTotpFactor(ctx.scopedTenant(), input),
  }),
  verifyFactor: t.field({
    type: FactorType,
    description: 'A wrong code is not an error: the factor comes back still UNVERIFIED',
    args: { input: t.arg({ type: VerifyFactorInput, required: true }) },
    resolve: (_r, { input }, ctx) => verifyFactor(ctx.scopedTenant(), input),
  }),
  updateFactor: t.field({
    type: FactorType,
    args: { input: t.arg({ type: UpdateFactorInput, required: true }) },
    resolve: (_r, { input }, ctx) => updateFactor(ctx.tenant(), input),
  }),
  resyncFactor: t.field({
    type: FactorType,
    description:
      'RFC 6238 §6: finds two consecutive codes within ±VERITY_RESYNC_WINDOW_STEPS time steps of now and records the factor’s drift; later checks are centred on now + drift and both codes count as used. A wrong pair is INVALID_ARGUMENT. Account credentials only',
    args: { input: t.arg({ type: ResyncFactorInput, required: true }) },
    resolve: (_r, { input }, ctx) => resyncFactor(ctx.tenant(), input),
  }),
  deleteFactor: t.field({
    type: DeletePayload,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => deleteFactor(ctx.tenant(), sid),
  }),
}));
