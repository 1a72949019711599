import { builder } from './builder.ts';
import { createAccount, getAccount } from '../services/accounts.ts';

export const AccountType = builder.prismaObject('Account', {
  fields: (t) => ({
    sid: t.exposeID('sid'),
    friendlyName: t.exposeString('friendlyName'),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
  }),
});

const CreateAccountInput = builder.inputType('CreateAccountInput', {
  fields: (t) => ({ friendlyName: t.string({ required: true }) }),
});

const CreateAccountPayload = builder
  .objectRef<Awaited<ReturnType<typeof createAccount>>>('CreateAccountPayload')
  .implement({
    fields: (t) => ({
      account: t.field({ type: AccountType, resolve: (p) => p.account }),
      authToken: t.exposeString('authToken', { description: 'Shown once: only its hash is stored' }),
    }),
  });

builder.queryField('viewer', (t) =>
  t.field({
    type: AccountType,
    description: 'The authenticated account',
    resolve: (_root, _args, ctx) => {
      const tenant = ctx.tenant();
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
