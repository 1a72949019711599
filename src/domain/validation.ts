import { z } from 'zod';
import { InvalidArgumentError } from './errors.ts';

/** Limits from API.md "Behaviour", which follow Twilio Verify v2. */
export const LIMITS = {
  serviceFriendlyName: 30, // Twilio 60200 "max 30 characters"
  factorFriendlyName: 64,
  jsonChars: 1024, // metadata, hiddenDetails serialised
  detailsMessage: 256,
  detailsFields: 20,
  detailsLabel: 36,
  detailsValue: 128,
  factorsPerEntity: 100, // Twilio 60315
  pageSizeDefault: 50,
  pageSizeMax: 1000, // Twilio PageSize 1–1000
} as const;

/** Twilio: "length between 8 and 64 characters … only dash (-) separated alphanumeric characters". */
export const identitySchema = z
  .string()
  .min(8, 'must be 8–64 characters')
  .max(64, 'must be 8–64 characters')
  .regex(/^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/, 'must be dash-separated letters and digits');

const trimmedName = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => s.trim().length > 0, 'must not be empty');

export const serviceFriendlyNameSchema = trimmedName(LIMITS.serviceFriendlyName);
export const factorFriendlyNameSchema = trimmedName(LIMITS.factorFriendlyName);

const int = (min: number, max: number) =>
  z.number().int('must be an integer').min(min, `must be ${min}–${max}`).max(max, `must be ${min}–${max}`);

/** Twilio Totp.TimeStep 20–60, Totp.CodeLength 3–8, Totp.Skew 0–2. */
export const timeStepSchema = int(20, 60);
export const codeLengthSchema = int(3, 8);
export const skewSchema = int(0, 2);

/** The issuer is the Key URI label prefix: a colon would split it (Key URI format). */
export const issuerSchema = trimmedName(100).refine((s) => !s.includes(':'), 'must not contain ":"');

export const serviceTotpSchema = z
  .object({
    issuer: issuerSchema.nullish(),
    timeStep: timeStepSchema.nullish(),
    codeLength: codeLengthSchema.nullish(),
    skew: skewSchema.nullish(),
  })
  .strict();

/** Metadata-like objects: string values only, ≤ 1024 characters serialised (Twilio). */
export const stringMapSchema = z
  .record(z.string(), z.string('values must be strings'))
  .refine((o) => JSON.stringify(o).length <= LIMITS.jsonChars, `must be at most ${LIMITS.jsonChars} characters serialised`);

/** Twilio AuthPayload for TOTP: 3–8 digits. */
export const authPayloadSchema = z.string().regex(/^[0-9]{3,8}$/, 'must be 3–8 digits');

export const totpAlgSchema = z.enum(['sha1', 'sha256', 'sha512']);

export const factorConfigSchema = z
  .object({ alg: totpAlgSchema.nullish(), timeStep: timeStepSchema.nullish(), codeLength: codeLengthSchema.nullish(), skew: skewSchema.nullish() })
  .strict();

export const pageArgsSchema = z.object({
  first: int(1, LIMITS.pageSizeMax).nullish(),
  after: z.string().max(200).nullish(),
});

/** Parses `value` or throws INVALID_ARGUMENT naming the first offending field (`prefix.path`). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'input';
  throw new InvalidArgumentError(field, issue.message);
}
