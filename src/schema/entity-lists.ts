// Entity's list fields live apart from entity.ts so that entity.ts need not import the types
// that themselves point back at Entity (factor → entity).
import { builder } from './builder.ts';
import { EntityType } from './entity.ts';
import { FactorConnection } from './factor.ts';
import { listFactors } from '../services/factors.ts';

builder.prismaObjectFields(EntityType, (t) => ({
  factors: t.field({
    type: FactorConnection,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: (e, args, ctx) => listFactors(ctx.tenant(), e.sid, args),
  }),
}));
