import type { Service } from '../generated/prisma/client.ts';
import { builder } from './builder.ts';
import { NodeInterface } from './node.ts';
import { connectionOf, DeletePayload } from './common.ts';
import { createService, deleteService, findService, listServices, updateService } from '../services/services.ts';
import { listEntities } from '../services/entities.ts';
import { EntityConnection } from './entity.ts';

const ServiceTotp = builder.objectRef<Service>('ServiceTotp').implement({
  description: 'TOTP defaults for new factors; a null field falls back to Twilio’s default',
  fields: (t) => ({
    issuer: t.string({ nullable: true, resolve: (s) => s.totpIssuer }),
    timeStep: t.int({ nullable: true, resolve: (s) => s.totpTimeStep }),
    codeLength: t.int({ nullable: true, resolve: (s) => s.totpCodeLength }),
    skew: t.int({ nullable: true, resolve: (s) => s.totpSkew }),
  }),
});

export const ServiceType = builder.prismaObject('Service', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    accountSid: t.exposeID('accountSid'),
    friendlyName: t.exposeString('friendlyName'),
    totp: t.field({ type: ServiceTotp, resolve: (s) => s }),
    allowedOrigins: t.exposeStringList('allowedOrigins', {
      description: 'Browser origins whose access-token requests are answered with CORS headers (docs/browser-clients.md)',
    }),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
    dateUpdated: t.expose('dateUpdated', { type: 'DateTime' }),
    entities: t.field({
      type: EntityConnection,
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (s, args, ctx) => listEntities(ctx.tenant(), s.sid, args),
    }),
  }),
});

const ServiceConnection = connectionOf('Service', ServiceType);

const TotpDefaultsInput = builder.inputType('ServiceTotpInput', {
  fields: (t) => ({
    issuer: t.string({ description: 'Key URI issuer; defaults to the service friendlyName' }),
    timeStep: t.int({ description: '20–60 seconds (default 30)' }),
    codeLength: t.int({ description: '3–8 digits (default 6)' }),
    skew: t.int({ description: '0–2 time steps either side (default 1)' }),
  }),
});

const CreateServiceInput = builder.inputType('CreateServiceInput', {
  fields: (t) => ({
    friendlyName: t.string({ required: true, description: 'At most 30 characters' }),
    totp: t.field({ type: TotpDefaultsInput }),
    allowedOrigins: t.stringList({ description: 'Exact origins, scheme://host[:port]: https, or http for localhost; at most 20' }),
  }),
});

const UpdateServiceInput = builder.inputType('UpdateServiceInput', {
  fields: (t) => ({
    sid: t.id({ required: true }),
    friendlyName: t.string(),
    totp: t.field({ type: TotpDefaultsInput, description: 'Fields left out are kept; null clears a default' }),
    allowedOrigins: t.stringList({ description: 'Replaces the list ([] clears it); left out: kept' }),
  }),
});

builder.queryFields((t) => ({
  service: t.field({
    type: ServiceType,
    nullable: true,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => findService(ctx.tenant(), sid),
  }),
  services: t.field({
    type: ServiceConnection,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: (_r, args, ctx) => listServices(ctx.tenant(), args),
  }),
}));

builder.mutationFields((t) => ({
  createService: t.field({
    type: ServiceType,
    args: { input: t.arg({ type: CreateServiceInput, required: true }) },
    resolve: (_r, { input }, ctx) => createService(ctx.tenant(), input),
  }),
  updateService: t.field({
    type: ServiceType,
    args: { input: t.arg({ type: UpdateServiceInput, required: true }) },
    resolve: (_r, { input }, ctx) => updateService(ctx.tenant(), input),
  }),
  deleteService: t.field({
    type: DeletePayload,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => deleteService(ctx.tenant(), sid),
  }),
}));
