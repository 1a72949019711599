import type { ObjectRef } from '@pothos/core';
import { encodeCursor, type Page, type Position } from '../domain/paging.ts';
import { builder } from './builder.ts';

export const OrderEnum = builder.enumType('Order', {
  values: { ASC: { value: 'asc' }, DESC: { value: 'desc' } } as const,
});

export const DeletePayload = builder.objectRef<{ deletedSid: string }>('DeletePayload').implement({
  fields: (t) => ({ deletedSid: t.exposeID('deletedSid') }),
});

const PageInfo = builder.objectRef<Page<Position>>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.string({ nullable: true, resolve: (p) => (p.nodes[0] ? encodeCursor(p.nodes[0]) : null) }),
    endCursor: t.string({ nullable: true, resolve: (p) => (p.nodes.length ? encodeCursor(p.nodes.at(-1)!) : null) }),
  }),
});

/** A Relay connection `XConnection { edges { cursor node } pageInfo totalCount }` over a keyset page. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function connectionOf<T extends Position>(name: string, node: ObjectRef<any, T>) {
  const Edge = builder.objectRef<T>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.string({ resolve: (n) => encodeCursor(n) }),
      // The edge shape is the node itself (cursor derives from it); Pothos cannot see that through the generic.
      node: t.field({ type: node, resolve: (n) => n as never }),
    }),
  });
  return builder.objectRef<Page<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [Edge], resolve: (p) => p.nodes }),
      pageInfo: t.field({ type: PageInfo, resolve: (p) => p as Page<Position> }),
      totalCount: t.int({ resolve: (p) => p.totalCount() }),
    }),
  });
}
