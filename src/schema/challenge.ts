import type { Challenge } from '../generated/prisma/client.ts';
import { builder } from './builder.ts';
import { NodeInterface } from './node.ts';
import { connectionOf } from './common.ts';
import { FactorType, FactorTypeEnum } from './factor.ts';
import { findChallenge } from '../services/challenges.ts';
import { createChallenge, verifyChallenge } from '../services/challenge-attempts.ts';

export const ChallengeStatusEnum = builder.enumType('ChallengeStatus', {
  values: {
    PENDING: { value: 'pending' },
    APPROVED: { value: 'approved' },
    DENIED: { value: 'denied' },
    EXPIRED: { value: 'expired' },
  } as const,
});
const RespondedReasonEnum = builder.enumType('ChallengeRespondedReason', {
  values: { NONE: { value: 'none' }, NOT_NEEDED: { value: 'not_needed' }, NOT_REQUESTED: { value: 'not_requested' } } as const,
});

const DetailField = builder.objectRef<{ label: string; value: string }>('ChallengeDetailField').implement({
  fields: (t) => ({ label: t.exposeString('label'), value: t.exposeString('value') }),
});

const ChallengeDetails = builder.objectRef<Challenge>('ChallengeDetails').implement({
  fields: (t) => ({
    message: t.string({ nullable: true, resolve: (c) => c.detailsMessage }),
    date: t.field({ type: 'DateTime', resolve: (c) => c.dateCreated }),
    fields: t.field({ type: [DetailField], resolve: (c) => (c.detailsFields as { label: string; value: string }[] | null) ?? [] }),
  }),
});

// Challenges are read through services (withEffectiveStatus): an overdue pending one reads EXPIRED.
export const ChallengeType = builder.prismaObject('Challenge', {
  interfaces: [NodeInterface],
  fields: (t) => ({
    sid: t.exposeID('sid'),
    accountSid: t.exposeID('accountSid'),
    serviceSid: t.exposeID('serviceSid'),
    entitySid: t.exposeID('entitySid'),
    identity: t.exposeString('identity'),
    factorSid: t.exposeID('factorSid'),
    // Batched by Prisma's findUnique dataloader: one query per page, not one per challenge.
    factor: t.relation('factor', { type: FactorType }),
    status: t.field({ type: ChallengeStatusEnum, resolve: (c) => c.status }),
    respondedReason: t.field({ type: RespondedReasonEnum, resolve: (c) => c.respondedReason }),
    details: t.field({ type: ChallengeDetails, resolve: (c) => c }),
    // Twilio's hidden details are for the customer's backend, never the end user: null for access tokens.
    hiddenDetails: t.field({
      type: 'JSONObject',
      nullable: true,
      resolve: (c, _a, ctx) => (ctx.principal.kind === 'access' ? null : c.hiddenDetails),
    }),
    metadata: t.field({ type: 'JSONObject', nullable: true, resolve: (c) => c.metadata }),
    factorType: t.field({ type: FactorTypeEnum, resolve: () => 'totp' as const }),
    expirationDate: t.expose('expirationDate', { type: 'DateTime' }),
    dateResponded: t.expose('dateResponded', { type: 'DateTime', nullable: true }),
    dateCreated: t.expose('dateCreated', { type: 'DateTime' }),
    dateUpdated: t.expose('dateUpdated', { type: 'DateTime' }),
  }),
});

export const ChallengeConnection = connectionOf('Challenge', ChallengeType);

const DetailFieldInput = builder.inputType('ChallengeDetailFieldInput', {
  fields: (t) => ({ label: t.string({ required: true }), value: t.string({ required: true }) }),
});

const ChallengeDetailsInput = builder.inputType('ChallengeDetailsInput', {
  fields: (t) => ({
    message: t.string({ description: 'At most 256 characters' }),
    fields: t.field({ type: [DetailFieldInput], description: 'At most 20; label ≤ 36, value ≤ 128 characters' }),
  }),
});

const CreateChallengeInput = builder.inputType('CreateChallengeInput', {
  fields: (t) => ({
    factorSid: t.id({ required: true }),
    authPayload: t.string({ description: 'A code: verify on creation (APPROVED if right, PENDING if not)' }),
    expirationDate: t.field({ type: 'DateTime', description: 'Default +5 minutes; at most +60 minutes' }),
    details: t.field({ type: ChallengeDetailsInput }),
    hiddenDetails: t.field({ type: 'JSONObject', description: '≤ 1024 characters serialised' }),
    metadata: t.field({ type: 'JSONObject', description: 'String values only, ≤ 1024 characters serialised' }),
  }),
});

const VerifyChallengeInput = builder.inputType('VerifyChallengeInput', {
  fields: (t) => ({
    challengeSid: t.id({ required: true }),
    authPayload: t.string({ required: true }),
    metadata: t.field({ type: 'JSONObject' }),
  }),
});

builder.queryField('challenge', (t) =>
  t.field({
    type: ChallengeType,
    nullable: true,
    args: { sid: t.arg.id({ required: true }) },
    resolve: (_r, { sid }, ctx) => findChallenge(ctx.scopedTenant(), sid),
  }),
);

builder.mutationFields((t) => ({
  createChallenge: t.field({
    type: ChallengeType,
    args: { input: t.arg({ type: CreateChallengeInput, required: true }) },
    resolve: (_r, { input }, ctx) => createChallenge(ctx.scopedTenant(), input),
  }),
  verifyChallenge: t.field({
    type: ChallengeType,
    description: 'A wrong code is not an error: the challenge comes back still PENDING',
    args: { input: t.arg({ type: VerifyChallengeInput, required: true }) },
    resolve: (_r, { input }, ctx) => verifyChallenge(ctx.scopedTenant(), input),
  }),
}));
