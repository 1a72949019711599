import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import { DateTimeResolver, JSONObjectResolver } from 'graphql-scalars';
import type PrismaTypes from '../generated/pothos-prisma-types.ts';
import { getDatamodel } from '../generated/pothos-prisma-types.ts';
import type { Tenant } from '../services/context.ts';
import type { Deps, Principal } from '../deps.ts';

/** Per-request GraphQL context: who is calling, and the process-wide collaborators. */
export interface GraphQLContext {
  deps: Deps;
  principal: Principal;
  /** The caller's account, or UNAUTHENTICATED / FORBIDDEN (access tokens included: default deny). */
  tenant(): Tenant;
  /** Like tenant(), but an access token passes as a tenant with its scope: only for fields open to browsers. */
  scopedTenant(): Tenant;
}

/** Plugins and scalars only; each resource's types live in its own file (DESIGN.md). */
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  Scalars: {
    // graphql-js coerces every ID input to a string; saying so spares each resolver a String().
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date | string };
    JSONObject: { Input: Record<string, unknown>; Output: unknown };
  };
}>({
  plugins: [PrismaPlugin],
  defaultFieldNullability: false,
  prisma: {
    client: (ctx) => ctx.deps.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    onUnusedQuery: null,
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSONObject', JSONObjectResolver);

builder.queryType({});
builder.mutationType({});
