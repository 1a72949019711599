import { z } from 'zod';
import { LIMITS, authPayloadSchema, stringMapSchema } from '../domain/validation.ts';

// What a client may send to create or answer a challenge (Twilio's limits); parseInput checks it.

const jsonObjectSchema = z
  .record(z.string(), z.unknown())
  .refine((o) => JSON.stringify(o).length <= LIMITS.jsonChars, `must be at most ${LIMITS.jsonChars} characters serialised`);

const detailsSchema = z.object({
  message: z.string().max(LIMITS.detailsMessage, `must be at most ${LIMITS.detailsMessage} characters`).nullish(),
  fields: z
    .array(
      z.object({
        label: z.string().min(1, 'must not be empty').max(LIMITS.detailsLabel, `must be at most ${LIMITS.detailsLabel} characters`),
        value: z.string().max(LIMITS.detailsValue, `must be at most ${LIMITS.detailsValue} characters`),
      }),
    )
    .max(LIMITS.detailsFields, `at most ${LIMITS.detailsFields} fields`)
    .nullish(),
});

export const createInput = z.object({
  factorSid: z.string(),
  authPayload: authPayloadSchema.nullish(),
  expirationDate: z.date().nullish(),
  details: detailsSchema.nullish(),
  hiddenDetails: jsonObjectSchema.nullish(),
  metadata: stringMapSchema.nullish(),
});

export const verifyInput = z.object({ challengeSid: z.string(), authPayload: authPayloadSchema, metadata: stringMapSchema.nullish() });

/** Unvalidated, as a client sends it: parseInput checks every field. */
export type CreateChallengeInput = Omit<z.input<typeof createInput>, 'metadata'> & { metadata?: Record<string, unknown> | null };
