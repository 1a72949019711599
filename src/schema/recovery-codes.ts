import { builder } from './builder.ts';
import { EntityType } from './entity.ts';
import {
  generateRecoveryCodes,
  redeemRecoveryCode,
  type RecoveryCodeResult,
  type RecoveryCodesPayload,
} from '../services/recovery-codes.ts';

// Recovery codes: a Verity extension (Twilio Verify has none). Account credentials only: the
// resolvers use tenant(), so access tokens are FORBIDDEN (services/recovery-codes.ts says why).

builder.prismaObjectField(EntityType, 'recoveryCodesRemaining', (t) =>
  t.relationCount('recoveryCodes', { description: 'Unused recovery codes of the current set (0 when none were generated)' }),
);

const GenerateRecoveryCodesInput = builder.inputType('GenerateRecoveryCodesInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    identity: t.string({ required: true, description: 'Created if missing, as factor enrolment does' }),
  }),
});

const RedeemRecoveryCodeInput = builder.inputType('RedeemRecoveryCodeInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    identity: t.string({ required: true }),
    code: t.string({
      required: true,
      description: 'As shown (XXXXX-XXXXX); any case, with or without the dash; I and L read as 1, O as 0',
    }),
  }),
});

const RecoveryCodesPayloadType = builder.objectRef<RecoveryCodesPayload>('RecoveryCodesPayload').implement({
  fields: (t) => ({
    codes: t.exposeStringList('codes', {
      description: '10 one-time codes, Crockford Base32, 50 bits each. Shown once: only keyed hashes are stored',
    }),
    entity: t.field({ type: EntityType, resolve: (p) => p.entity }),
  }),
});

const RecoveryCodeResultType = builder.objectRef<RecoveryCodeResult>('RecoveryCodeResult').implement({
  fields: (t) => ({
    valid: t.exposeBoolean('valid', { description: 'True once per code; a wrong or used code is false (not an error)' }),
    remaining: t.exposeInt('remaining', { description: 'Unused codes left in the set' }),
  }),
});

builder.mutationFields((t) => ({
  generateRecoveryCodes: t.field({
    type: RecoveryCodesPayloadType,
    description: 'A new set of 10 recovery codes for an identity, replacing the previous set (Verity extension)',
    args: { input: t.arg({ type: GenerateRecoveryCodesInput, required: true }) },
    resolve: (_r, { input }, ctx) => generateRecoveryCodes(ctx.tenant(), input),
  }),
  redeemRecoveryCode: t.field({
    type: RecoveryCodeResultType,
    description:
      'Uses up one recovery code. Guessing is throttled per entity: TOO_MANY_ATTEMPTS with extensions.retryAfter (Verity extension)',
    args: { input: t.arg({ type: RedeemRecoveryCodeInput, required: true }) },
    resolve: (_r, { input }, ctx) => redeemRecoveryCode(ctx.tenant(), input),
  }),
}));
