import { builder } from './builder.ts';
import { FactorConfigInput } from './factor.ts';
import { importTotpFactors, type ImportItemError, type ImportResult } from '../services/factor-import.ts';

const ImportTotpFactorInput = builder.inputType('ImportTotpFactorInput', {
  description: 'One seed from another TOTP system',
  fields: (t) => ({
    identity: t.string({ required: true, description: 'The entity; created if missing' }),
    secret: t.string({ required: true, description: 'Base32 seed (RFC 4648), at least 16 bytes (128 bits, RFC 4226 §4)' }),
    friendlyName: t.string({ required: true, description: 'At most 64 characters' }),
    config: t.field({ type: FactorConfigInput, description: 'Default: the service’s, else SHA1, 6 digits, 30 s, skew 1' }),
    verified: t.boolean({ description: 'True: the factor was in use already and can be challenged at once (default false)' }),
  }),
});

const ImportTotpFactorsInput = builder.inputType('ImportTotpFactorsInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    factors: t.field({ type: [ImportTotpFactorInput], required: true, description: 'At most 1000 items' }),
  }),
});

const ImportTotpFactorError = builder.objectRef<ImportItemError>('ImportTotpFactorError').implement({
  description: 'Why one item was not imported (nothing of it was written)',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position in the input list, from 0' }),
    code: t.exposeString('code', { description: 'A stable error code, e.g. INVALID_ARGUMENT or FACTOR_LIMIT_REACHED' }),
    message: t.exposeString('message'),
  }),
});

const ImportTotpFactorsPayload = builder.objectRef<ImportResult>('ImportTotpFactorsPayload').implement({
  fields: (t) => ({
    imported: t.exposeInt('imported', {
      description: 'Items whose factor exists now: created by this call or by an earlier import of the same identity and secret',
    }),
    errors: t.field({ type: [ImportTotpFactorError], resolve: (p) => p.errors }),
  }),
});

builder.mutationField('importTotpFactors', (t) =>
  t.field({
    type: ImportTotpFactorsPayload,
    description: 'Verity extension: brings existing seeds over; each item all or nothing, never the batch',
    args: { input: t.arg({ type: ImportTotpFactorsInput, required: true }) },
    resolve: (_r, { input }, ctx) => importTotpFactors(ctx.tenant(), input),
  }),
);
