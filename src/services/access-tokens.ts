import { z } from 'zod';
import { actorOf, recordAudit } from './audit.ts';
import { identitySchema, parseInput } from '../domain/validation.ts';
import type { Tenant } from './context.ts';
import { getService } from './services.ts';
import { ACCESS_TOKEN_TTL, signAccessToken } from '../auth/access-tokens.ts';
import { requireManagement } from '../auth/index.ts';

const createInput = z.object({
  serviceSid: z.string(),
  identity: identitySchema,
  ttlSeconds: z
    .number()
    .int('must be an integer')
    .min(ACCESS_TOKEN_TTL.min, `must be ${ACCESS_TOKEN_TTL.min}–${ACCESS_TOKEN_TTL.max}`)
    .max(ACCESS_TOKEN_TTL.max, `must be ${ACCESS_TOKEN_TTL.min}–${ACCESS_TOKEN_TTL.max}`)
    .nullish(),
});

export interface AccessToken {
  /** The signed JWT: give it to the browser of `identity` only. Never logged or stored by Verity. */
  token: string;
  expiresAt: Date;
}

/**
 * Mints an access token for one identity of one of the caller's services (account credentials
 * only: the resolver passes tenantOf, which refuses operators and access tokens). The identity
 * need not exist yet: createTotpFactor creates the entity. (Audit hook: one line here.)
 */
export async function createAccessToken(
  t: Tenant,
  input: { serviceSid: string; identity: string; ttlSeconds?: number | null },
): Promise<AccessToken> {
  requireManagement(t);
  const data = parseInput(createInput, input);
  const service = await getService(t, data.serviceSid);
  const ttl = data.ttlSeconds ?? ACCESS_TOKEN_TTL.default;
  const { token, expiresAt } = await signAccessToken(t.deps, {
    accountSid: t.accountSid,
    serviceSid: service.sid,
    identity: data.identity,
    ttl,
  });
  // The token itself never reaches the trail: only who it is for and until when.
  await recordAudit(t.deps, {
    type: 'access_token.issued',
    accountSid: t.accountSid,
    actor: actorOf(t),
    serviceSid: service.sid,
    details: { identity: data.identity, ttlSeconds: ttl, expiresAt: expiresAt.toISOString() },
  });
  return { token, expiresAt };
}
