import type { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';

/**
 * graphql-js reports a bad document or bad variables as GraphQLErrors without any code. Clients
 * branch on `extensions.code` (docs/api-contract.md "Errors"), so these get the conventional names (the ones
 * Apollo Server uses): a syntax error, a document the schema rejects, variables that do not fit
 * their declared types. Returns null for an error that is none of these.
 */
export function requestErrorCode(error: GraphQLError): 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED' | 'BAD_USER_INPUT' | null {
  if (error.path) return null; // raised while executing a field: not a request error
  if (error.message.startsWith('Syntax Error')) return 'GRAPHQL_PARSE_FAILED';
  // graphql-js coerceVariableValues: `Variable "$x" got invalid value …`, `… was not provided.`, `… must not be null.`
  if (/^Variable "\$[^"]+" (got invalid value|of required type .* was not provided|of non-null type .* must not be null)/s.test(error.message)) return 'BAD_USER_INPUT';
  return 'GRAPHQL_VALIDATION_FAILED';
}

/** The same error with a stable code (the original when it already has one). */
export function withRequestCode(error: GraphQLError): GraphQLError | null {
  if (typeof error.extensions?.code === 'string') return error;
  const code = requestErrorCode(error);
  if (!code) return null;
  return createGraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
}
