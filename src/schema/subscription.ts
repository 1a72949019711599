import { builder } from './builder.ts';
import { ChallengeType } from './challenge.ts';
import { FactorType } from './factor.ts';
import { scopedChallengeUpdates, scopedFactorUpdates } from '../services/subscriptions.ts';
import type { Challenge, Factor } from '../generated/prisma/client.ts';

builder.subscriptionType({});

builder.subscriptionFields((t) => ({
  challengeUpdated: t.field({
    type: ChallengeType,
    description:
      'Every change of the caller’s matching challenges (created, approved, expired). Give at least one filter. Access tokens: their own identity only.',
    args: { challengeSid: t.arg.id(), serviceSid: t.arg.id(), identity: t.arg.string() },
    subscribe: (_r, a, ctx) =>
      scopedChallengeUpdates(ctx.scopedTenant(), { sid: a.challengeSid, serviceSid: a.serviceSid, identity: a.identity }),
    resolve: (c: Challenge) => c,
  }),
  factorUpdated: t.field({
    type: FactorType,
    description:
      'Every change of the caller’s matching factors (created, verified, updated, deleted). Give at least one filter. Access tokens: their own identity only.',
    args: { factorSid: t.arg.id(), serviceSid: t.arg.id(), identity: t.arg.string() },
    subscribe: (_r, a, ctx) =>
      scopedFactorUpdates(ctx.scopedTenant(), { sid: a.factorSid, serviceSid: a.serviceSid, identity: a.identity }),
    resolve: (f: Factor) => f,
  }),
}));
