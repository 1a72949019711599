import type { AuditEvent } from '../generated/prisma/client.ts';
import { builder } from './builder.ts';
import { NodeInterface } from './node.ts';
import { connectionOf, OrderEnum } from './common.ts';
import { listAuditEvents } from '../services/audit.ts';

export const AuditEventType = builder.prismaObject('AuditEvent', {
  interfaces: [NodeInterface],
  description: 'One security event of the account’s append-only, hash-chained audit trail (docs/operations.md “Audit trail”)',
  fields: (t) => ({
    sid: t.exposeID('sid'),
    accountSid: t.exposeID('accountSid'),
    seq: t.string({
      description: 'Position in the account’s chain: 1, 2, 3… without gaps (decimal: 64-bit)',
      resolve: (e) => e.seq.toString(),
    }),
    type: t.exposeString('type', { description: 'e.g. factor.verified, challenge.failed (docs/operations.md “Audit trail” lists them)' }),
    serviceSid: t.exposeID('serviceSid', { nullable: true }),
    entitySid: t.exposeID('entitySid', { nullable: true }),
    factorSid: t.exposeID('factorSid', { nullable: true }),
    challengeSid: t.exposeID('challengeSid', { nullable: true }),
    actor: t.exposeString('actor', { description: 'account, operator, system, or access_token:<identity>' }),
    details: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'Event specifics (identity, reason…); never a seed, token or code',
      resolve: (e: AuditEvent) => (e.details === null ? null : (JSON.parse(e.details) as Record<string, unknown>)),
    }),
    detailsText: t.exposeString('details', { nullable: true, description: 'details exactly as hashed (canonical JSON)' }),
    dateCreated: t.expose('dateCreated', { type: 'DateTime', description: 'When it happened' }),
    prevHash: t.exposeString('prevHash', { description: 'hash of seq − 1 (64 zeros for seq 1)' }),
    hash: t.exposeString('hash', { description: 'SHA-256 over this event and prevHash, hex' }),
  }),
});

const AuditEventConnection = connectionOf('AuditEvent', AuditEventType);

builder.queryField('auditEvents', (t) =>
  t.field({
    type: AuditEventConnection,
    description: 'The account’s audit trail, newest first unless order: ASC; account credentials only',
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      serviceSid: t.arg.id(),
      type: t.arg.string(),
      order: t.arg({ type: OrderEnum }),
    },
    resolve: (_r, args, ctx) => listAuditEvents(ctx.tenant(), args),
  }),
);
