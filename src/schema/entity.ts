import { builder } from './builder.ts';
import { NodeInterface } from './node.ts';
import { connectionOf, DeletePayload } from './common.ts';
import { createEntity, deleteEntity, findEntity } from '../services/entities.ts';

export const EntityType = builder.prismaObject('Entity', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    identity: t.exposeString('identity'),
    serviceSid: t.exposeID('serviceSid'),
    accountSid: t.exposeID('accountSid'),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
    dateUpdated: t.expose('dateUpdated', { type: 'DateTime' }),
  }),
});

export const EntityConnection = connectionOf('Entity', EntityType);

const CreateEntityInput = builder.inputType('CreateEntityInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    identity: t.string({ required: true, description: '8–64 dash-separated letters and digits; not PII' }),
  }),
});

builder.queryField('entity', (t) =>
  t.field({
    type: EntityType,
    nullable: true,
    args: { serviceSid: t.arg.id({ required: true }), identity: t.arg.string({ required: true }) },
    resolve: (_r, { serviceSid, identity }, ctx) => findEntity(ctx.scopedTenant(), serviceSid, identity),
  }),
);

builder.mutationFields((t) => ({
  createEntity: t.field({
    type: EntityType,
    args: { input: t.arg({ type: CreateEntityInput, required: true }) },
    resolve: (_r, { input }, ctx) => createEntity(ctx.tenant(), input),
  }),
  deleteEntity: t.field({
    type: DeletePayload,
    args: { serviceSid: t.arg.id({ required: true }), identity: t.arg.string({ required: true }) },
    resolve: (_r, { serviceSid, identity }, ctx) => deleteEntity(ctx.tenant(), serviceSid, identity),
  }),
}));
