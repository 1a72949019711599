import { builder } from './builder.ts';
import { createAccessToken, type AccessToken } from '../services/access-tokens.ts';

const CreateAccessTokenInput = builder.inputType('CreateAccessTokenInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    identity: t.string({ required: true, description: 'The user the token acts for; need not exist yet (createTotpFactor creates it)' }),
    ttlSeconds: t.int({ description: 'Lifetime, 60–3600 s (default 600)' }),
  }),
});

const AccessTokenPayload = builder.objectRef<AccessToken>('AccessTokenPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Send as `Authorization: Bearer <token>`; give it to this identity’s browser only' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

builder.mutationField('createAccessToken', (t) =>
  t.field({
    type: AccessTokenPayload,
    description:
      'Account credentials only: a short-lived token with which one identity’s browser may enrol and verify its own TOTP factors, ' +
      'create and verify its own challenges, read them and subscribe to them — nothing else',
    args: { input: t.arg({ type: CreateAccessTokenInput, required: true }) },
    // tenant(), not scopedTenant(): operators and access tokens cannot mint tokens.
    resolve: (_r, { input }, ctx) => createAccessToken(ctx.tenant(), input),
  }),
);
