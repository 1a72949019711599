import type { WebhookDelivery } from '../generated/prisma/client.ts';
import { builder, type GraphQLContext } from './builder.ts';
import { NodeInterface } from './node.ts';
import { connectionOf, DeletePayload, OrderEnum } from './common.ts';
import {
  createWebhook,
  deleteWebhook,
  findWebhook,
  listWebhookDeliveries,
  listWebhooks,
  redeliverWebhookDelivery,
  updateWebhook,
  type Caller,
} from '../services/webhooks.ts';

/** The raw token of a Basic-authenticated caller (TWILIO signing captures it); never echoed anywhere. */
const callerOf = (ctx: GraphQLContext): Caller => (ctx.principal.kind === 'account' ? { credential: ctx.principal.credential } : {});

export const WebhookStatusEnum = builder.enumType('WebhookStatus', {
  values: { ENABLED: { value: 'enabled' }, DISABLED: { value: 'disabled' } } as const,
});
export const WebhookVersionEnum = builder.enumType('WebhookVersion', {
  values: { V1: { value: 'v1' }, V2: { value: 'v2' } } as const,
});
export const WebhookSigningEnum = builder.enumType('WebhookSigning', {
  description:
    'TWILIO: form body + X-Twilio-Signature (HMAC-SHA1, the account auth token). STANDARD: JSON body + Standard Webhooks headers (the whsec_ signingSecret).',
  values: { TWILIO: { value: 'twilio' }, STANDARD: { value: 'standard' } } as const,
});
export const WebhookDeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description:
    'PENDING: not attempted yet; FAILED: an attempt failed, another is scheduled at nextAttemptAt; SUCCEEDED: a 2xx answer; DEAD: attempts exhausted (or refused): redeliver it',
  values: {
    PENDING: { value: 'pending' },
    SUCCEEDED: { value: 'succeeded' },
    FAILED: { value: 'failed' },
    DEAD: { value: 'dead' },
  } as const,
});

// No field of this type reaches the signing key: signingSecret exists only on CreateWebhookPayload.
export const WebhookType = builder.prismaObject('Webhook', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    accountSid: t.exposeID('accountSid'),
    serviceSid: t.exposeID('serviceSid'),
    friendlyName: t.exposeString('friendlyName'),
    eventTypes: t.exposeStringList('eventTypes'),
    status: t.field({ type: WebhookStatusEnum, resolve: (w) => w.status }),
    version: t.field({ type: WebhookVersionEnum, resolve: (w) => w.version }),
    webhookUrl: t.exposeString('webhookUrl'),
    webhookMethod: t.string({ description: 'Always POST', resolve: () => 'POST' }),
    signing: t.field({ type: WebhookSigningEnum, resolve: (w) => w.signing }),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
    dateUpdated: t.expose('dateUpdated', { type: 'DateTime' }),
  }),
});

export const WebhookDeliveryType = builder.prismaObject('WebhookDelivery', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    accountSid: t.exposeID('accountSid'),
    serviceSid: t.exposeID('serviceSid'),
    webhookSid: t.exposeID('webhookSid'),
    eventUuid: t.exposeString('eventUuid', { description: 'The event’s uuid: the same on every attempt; deduplicate on it' }),
    eventType: t.exposeString('eventType'),
    payload: t.field({
      type: 'JSONObject',
      description: 'The body’s fields (SIDs and public fields)',
      resolve: (d: WebhookDelivery) => d.payload,
    }),
    status: t.field({ type: WebhookDeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts', { description: 'Attempts in the current series (redelivery starts a new one)' }),
    lastError: t.exposeString('lastError', { nullable: true }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
    dateUpdated: t.expose('dateUpdated', { type: 'DateTime' }),
  }),
});

const WebhookConnection = connectionOf('Webhook', WebhookType);
const WebhookDeliveryConnection = connectionOf('WebhookDelivery', WebhookDeliveryType);

const CreateWebhookPayload = builder.objectRef<Awaited<ReturnType<typeof createWebhook>>>('CreateWebhookPayload').implement({
  fields: (t) => ({
    webhook: t.field({ type: WebhookType, resolve: (p) => p.webhook }),
    signingSecret: t.string({
      nullable: true,
      description: 'STANDARD signing: the whsec_ secret, shown this once. TWILIO: null (signed with the account auth token).',
      resolve: (p) => p.signingSecret,
    }),
  }),
});

const CreateWebhookInput = builder.inputType('CreateWebhookInput', {
  fields: (t) => ({
    serviceSid: t.id({ required: true }),
    friendlyName: t.string({ required: true, description: 'At most 64 characters' }),
    webhookUrl: t.string({
      required: true,
      description: 'http(s); private, loopback and link-local addresses are refused (VERITY_WEBHOOK_ALLOW_PRIVATE)',
    }),
    eventTypes: t.stringList({
      required: true,
      description: 'factor.created, factor.verified, factor.deleted, challenge.approved, challenge.denied, challenge.expired, or *',
    }),
    status: t.field({ type: WebhookStatusEnum, description: 'Default ENABLED' }),
    version: t.field({ type: WebhookVersionEnum, description: 'Default V2 (Twilio’s field; the body is the same)' }),
    signing: t.field({ type: WebhookSigningEnum, description: 'Default TWILIO, which needs Basic AccountSid:AuthToken credentials' }),
  }),
});

const UpdateWebhookInput = builder.inputType('UpdateWebhookInput', {
  fields: (t) => ({
    sid: t.id({ required: true }),
    friendlyName: t.string(),
    webhookUrl: t.string(),
    eventTypes: t.stringList(),
    status: t.field({ type: WebhookStatusEnum }),
    version: t.field({ type: WebhookVersionEnum }),
  }),
});

builder.queryFields((t) => ({
  webhook: t.field({
    type: WebhookType,
    nullable: true,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => findWebhook(ctx.tenant(), sid),
  }),
  webhooks: t.field({
    type: WebhookConnection,
    args: { serviceSid: t.arg.id({ required: true }), first: t.arg.int(), after: t.arg.string() },
    resolve: (_r, args, ctx) => listWebhooks(ctx.tenant(), args.serviceSid, args),
  }),
  webhookDeliveries: t.field({
    type: WebhookDeliveryConnection,
    description: 'Newest first unless order: ASC',
    args: {
      webhookSid: t.arg.id({ required: true }),
      first: t.arg.int(),
      after: t.arg.string(),
      status: t.arg({ type: WebhookDeliveryStatusEnum }),
      order: t.arg({ type: OrderEnum }),
    },
    resolve: (_r, args, ctx) => listWebhookDeliveries(ctx.tenant(), args.webhookSid, args),
  }),
}));

builder.mutationFields((t) => ({
  createWebhook: t.field({
    type: CreateWebhookPayload,
    args: { input: t.arg({ type: CreateWebhookInput, required: true }) },
    resolve: (_r, { input }, ctx) => createWebhook(ctx.tenant(), input, callerOf(ctx)),
  }),
  updateWebhook: t.field({
    type: WebhookType,
    args: { input: t.arg({ type: UpdateWebhookInput, required: true }) },
    resolve: (_r, { input }, ctx) => updateWebhook(ctx.tenant(), input, callerOf(ctx)),
  }),
  deleteWebhook: t.field({
    type: DeletePayload,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => deleteWebhook(ctx.tenant(), sid),
  }),
  redeliverWebhookDelivery: t.field({
    type: WebhookDeliveryType,
    description: 'Sends the event again (same uuid and body) as a new series of attempts, whatever the delivery’s status',
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => redeliverWebhookDelivery(ctx.tenant(), sid),
  }),
}));
