import { builder, type GraphQLContext } from './builder.ts';
import { SID_PREFIX, type SidKind } from '../domain/sid.ts';
import { InvalidArgumentError } from '../domain/errors.ts';
import { getAccount } from '../services/accounts.ts';
import { findAuditEvent } from '../services/audit.ts';
import { findChallenge } from '../services/challenges.ts';
import { findEntityBySid } from '../services/entities.ts';
import { findFactor } from '../services/factors.ts';
import { findService } from '../services/services.ts';
import { findWebhook, findWebhookDelivery } from '../services/webhooks.ts';

// Global Object Identification (Relay spec, "GraphQL Server Specification"): `id` is the SID itself.
// A SID's two-letter prefix already names its type, so the id needs no typename:id base64
// envelope, and a client can pass the SID it has from REST, a webhook or a log straight to node().
// Hand-written rather than @pothos/plugin-relay: that plugin's node loaders look rows up by id
// alone, while every lookup here must go through the tenant-scoped services (and the access-token
// scope), so its encoding, loading and `nodes` field would all have been overridden.

const TYPES: Record<SidKind, string> = {
  account: 'Account',
  service: 'Service',
  entity: 'Entity',
  factor: 'Factor',
  challenge: 'Challenge',
  webhook: 'Webhook',
  webhookDelivery: 'WebhookDelivery',
  auditEvent: 'AuditEvent',
};
const KIND_BY_PREFIX = new Map<string, SidKind>(Object.entries(SID_PREFIX).map(([kind, prefix]) => [prefix, kind as SidKind]));

/** The GraphQL type of a SID by its prefix (SIDs are stored with an uppercase prefix). */
export const nodeTypeOf = (sid: string): string | undefined => {
  const kind = KIND_BY_PREFIX.get(sid.slice(0, 2).toUpperCase());
  return kind && TYPES[kind];
};

export const NodeInterface = builder.interfaceRef<{ sid: string }>('Node').implement({
  description: 'An object with a globally unique id (Relay Global Object Identification): the id is the SID',
  resolveType: (row) => nodeTypeOf(row.sid) ?? null,
  fields: (t) => ({
    id: t.exposeID('sid', { description: 'The SID: two letters naming the type, then 32 hex digits' }),
  }),
});

/**
 * Each type's own lookup, so node() answers exactly what the type's root field would: null for a
 * missing or another tenant's SID, FORBIDDEN where that field refuses the caller (access tokens
 * reach factors, challenges and entities of their own identity only: default deny).
 */
const loaders: Record<SidKind, (ctx: GraphQLContext, sid: string) => Promise<{ sid: string } | null>> = {
  account: async (ctx, sid) => {
    const t = ctx.tenant();
    return sid.toLowerCase() === t.accountSid.toLowerCase() ? getAccount(ctx.deps, t.accountSid) : null;
  },
  service: (ctx, sid) => findService(ctx.tenant(), sid),
  entity: (ctx, sid) => findEntityBySid(ctx.scopedTenant(), sid),
  factor: (ctx, sid) => findFactor(ctx.scopedTenant(), sid),
  challenge: (ctx, sid) => findChallenge(ctx.scopedTenant(), sid),
  webhook: (ctx, sid) => findWebhook(ctx.tenant(), sid),
  webhookDelivery: (ctx, sid) => findWebhookDelivery(ctx.tenant(), sid),
  auditEvent: (ctx, sid) => findAuditEvent(ctx.tenant(), sid),
};

async function loadNode(ctx: GraphQLContext, id: string): Promise<{ sid: string } | null> {
  const kind = KIND_BY_PREFIX.get(id.slice(0, 2));
  if (!kind) {
    ctx.scopedTenant(); // an unauthenticated caller learns nothing, not even that an id is malformed
    return null;
  }
  return loaders[kind](ctx, id);
}

/** Bounds one request's lookups, as page sizes bound lists. */
export const MAX_NODES = 100;

builder.queryFields((t) => ({
  node: t.field({
    type: NodeInterface,
    nullable: true,
    description: 'The object with this id (its SID); null when there is none in the caller’s account',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, { id }, ctx) => loadNode(ctx, id),
  }),
  nodes: t.field({
    type: [NodeInterface],
    nullable: { list: false, items: true },
    description: `The objects with these ids, in order (null where there is none); at most ${MAX_NODES} ids`,
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_r, { ids }, ctx) => {
      if (ids.length > MAX_NODES) throw new InvalidArgumentError('ids', `at most ${MAX_NODES} ids per request`);
      return ids.map((id) => loadNode(ctx, id));
    },
  }),
}));
