import { Kind, type GraphQLResolveInfo } from 'graphql';
import { builder } from './builder.ts';
import { NodeInterface } from './node.ts';
import { createAccount, getAccount, rotateAuthToken, type RotatedToken } from '../services/accounts.ts';

export const AccountType = builder.prismaObject('Account', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    friendlyName: t.exposeString('friendlyName'),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
  }),
});

const CreateAccountInput = builder.inputType('CreateAccountInput', {
  fields: (t) => ({ friendlyName: t.string({ required: true }) }),
});

const CreateAccountPayload = builder.objectRef<Awaited<ReturnType<typeof createAccount>>>('CreateAccountPayload').implement({
  fields: (t) => ({
    account: t.field({ type: AccountType, resolve: (p) => p.account }),
    authToken: t.exposeString('authToken', { description: 'Shown once: only its hash is stored' }),
  }),
});

const IDENTITY_FIELDS = new Set(['sid', 'id', '__typename']);

/** True when every selection of this field is `sid`, `id` (the SID) or `__typename`, fragments excluded. */
function onlyIdentity(info: GraphQLResolveInfo): boolean {
  return info.fieldNodes.every((node) =>
    (node.selectionSet?.selections ?? []).every(
      (s) => s.kind === Kind.FIELD && IDENTITY_FIELDS.has(s.name.value) && !s.directives?.length && !s.selectionSet,
    ),
  );
}

builder.queryField('viewer', (t) =>
  t.field({
    type: AccountType,
    description: 'The authenticated account',
    resolve: (_root, _args, ctx, info) => {
      const tenant = ctx.tenant();
      // The SID is the authenticated principal's (its account row was read to authenticate it):
      // a selection of nothing else needs no second read.
      if (onlyIdentity(info)) return { sid: tenant.accountSid } as Awaited<ReturnType<typeof getAccount>>;
      return getAccount(ctx.deps, tenant.accountSid);
    },
  }),
);

builder.mutationField('createAccount', (t) =>
  t.field({
    type: CreateAccountPayload,
    description: 'Operator only (Bearer VERITY_ADMIN_TOKEN)',
    args: { input: t.arg({ type: CreateAccountInput, required: true }) },
    resolve: (_root, { input }, ctx) => createAccount(ctx.deps, ctx.principal, input),
  }),
);

const RotateAuthTokenInput = builder.inputType('RotateAuthTokenInput', {
  fields: (t) => ({
    graceSeconds: t.int({ description: 'How long the old token keeps working, 0–604800 s (default 0: stops at once)' }),
    accountSid: t.id({ description: 'Operator only: the account to rotate (accounts rotate their own)' }),
  }),
});

const RotateAuthTokenPayload = builder.objectRef<RotatedToken>('RotateAuthTokenPayload').implement({
  fields: (t) => ({
    account: t.field({ type: AccountType, resolve: (p) => p.account }),
    authToken: t.exposeString('authToken', { description: 'Shown once: only its hash is stored' }),
    previousTokenValidUntil: t.expose('previousTokenValidUntil', { type: 'DateTime', nullable: true }),
  }),
});

builder.mutationField('rotateAuthToken', (t) =>
  t.field({
    type: RotateAuthTokenPayload,
    description: 'A new auth token; the old one works until previousTokenValidUntil',
    args: { input: t.arg({ type: RotateAuthTokenInput }) },
    resolve: (_root, { input }, ctx) => rotateAuthToken(ctx.deps, ctx.principal, input),
  }),
);
