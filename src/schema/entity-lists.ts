// Entity's list fields live apart from entity.ts so that entity.ts need not import the types
// that themselves point back at Entity (factor → entity).
import { builder } from './builder.ts';
import { EntityType } from './entity.ts';
import { FactorConnection } from './factor.ts';
import { listFactors } from '../services/factors.ts';
import { ChallengeConnection, ChallengeStatusEnum } from './challenge.ts';
import { OrderEnum } from './common.ts';
import { listChallenges } from '../services/challenges.ts';

builder.prismaObjectFields(EntityType, (t) => ({
  factors: t.field({
    type: FactorConnection,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: (e, args, ctx) => listFactors(ctx.scopedTenant(), e.sid, args),
  }),
  challenges: t.field({
    type: ChallengeConnection,
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      factorSid: t.arg.id(),
      status: t.arg({ type: ChallengeStatusEnum }),
      order: t.arg({ type: OrderEnum, description: 'By creation; default ASC (Twilio)' }),
    },
    resolve: (e, args, ctx) => listChallenges(ctx.scopedTenant(), e.sid, args),
  }),
}));
