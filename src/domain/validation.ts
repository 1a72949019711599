import { z } from 'zod';
import { InvalidArgumentError } from './errors.ts';

/** Limits from docs/api-contract.md "Behaviour", which follow Twilio Verify v2. */
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
  .object({
    alg: totpAlgSchema.nullish(),
    timeStep: timeStepSchema.nullish(),
    codeLength: codeLengthSchema.nullish(),
    skew: skewSchema.nullish(),
  })
  .strict();

export const pageArgsSchema = z.object({
  first: int(1, LIMITS.pageSizeMax).nullish(),
  after: z.string().max(200).nullish(),
});

/**
 * U+0000 cannot be stored in PostgreSQL text or jsonb (PostgreSQL §8.3, §8.14: "unsupported Unicode
 * escape sequence"), and an unpaired UTF-16 surrogate is not Unicode text (the driver would store it
 * as U+FFFD, silently changing the value). Matches either.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this refuses (PostgreSQL text cannot hold it).
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** False for a string PostgreSQL cannot store as text (NUL) or that is not Unicode (an unpaired surrogate). */
export const isStorableText = (s: string): boolean => !UNSTORABLE.test(s);

/** Deeper than this, an input is refused before any schema (or JSON.stringify) recurses into it. */
export const INPUT_MAX_DEPTH = 32;

export type InputProblem = { path: (string | number)[]; reason: 'unstorable' | 'too-deep' };

/**
 * The first string (value or object key) in `value` that UNSTORABLE matches, or the first value
 * nested deeper than INPUT_MAX_DEPTH; null when there is none. Iterative: a 20,000-deep JSON
 * input (it fits in a request body) must not overflow the stack.
 */
export function findInputProblem(value: unknown): InputProblem | null {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return { path, reason: 'unstorable' };
      continue;
    }
    if (!v || typeof v !== 'object' || v instanceof Date) continue;
    if (path.length >= INPUT_MAX_DEPTH) return { path, reason: 'too-deep' };
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    // Pushed in reverse, so the first offending field in document order is reported.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, x] = entries[i]!;
      if (typeof k === 'string' && UNSTORABLE.test(k)) return { path, reason: 'unstorable' }; // the key is not text: name its parent
      stack.push({ v: x, path: [...path, k] });
    }
  }
  return null;
}

/** Parses `value` or throws INVALID_ARGUMENT naming the first offending field (`prefix.path`). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const problem = findInputProblem(value);
  if (problem) {
    const field = [prefix, ...problem.path.map(String)].filter(Boolean).join('.') || prefix || 'input';
    throw new InvalidArgumentError(
      field,
      problem.reason === 'too-deep'
        ? `must not be nested more than ${INPUT_MAX_DEPTH} levels deep`
        : 'must be Unicode text without NUL characters or unpaired surrogates',
    );
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'input';
  throw new InvalidArgumentError(field, issue.message);
}
