import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { schema } from './schema/index.ts';
import { VerityError } from './domain/errors.ts';
import { authenticate } from './services/accounts.ts';
import { tenantOf, type Deps } from './services/context.ts';
import type { GraphQLContext } from './schema/builder.ts';
import type { Logger } from './logger.ts';
import { restRoutes } from './rest/index.ts';
import { withRequestCode } from './request-errors.ts';

export interface AppDeps extends Deps {
  logger: Logger;
  /** Readiness: throws when a dependency (database, Redis) does not answer. */
  ready: () => Promise<void>;
}

const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof Error && e.name === 'GraphQLError';

/** Domain errors keep their code; anything unexpected is logged and masked (DESIGN.md "Errors"). */
function toClientError(error: unknown, logger: Logger): Error {
  // The executor may wrap a resolver's error more than once: unwrap to the thrown one. Checked by
  // shape, not instanceof: graphql's CJS and ESM builds can both be loaded (dual-package hazard).
  let original: unknown = error;
  while (isGraphQLError(original) && original.originalError) original = original.originalError;
  const located = isGraphQLError(error) ? error : undefined;
  if (original instanceof VerityError) {
    return createGraphQLError(original.message, {
      nodes: located?.nodes,
      path: located?.path,
      extensions: {
        code: original.code,
        ...(original.twilioCode ? { twilioCode: original.twilioCode } : {}),
        ...original.extra,
      },
    });
  }
  // Parse, validation and variable errors: safe and useful, reported whole (the outer error says
  // which variable) with a stable code. A codeless GraphQLError raised inside execution is unexpected.
  const requestError = isGraphQLError(error) ? withRequestCode(error) : null;
  if (requestError) return requestError;
  logger.error({ err: original }, 'unexpected error');
  return createGraphQLError('Unexpected error', { extensions: { code: 'INTERNAL_SERVER_ERROR' }, path: located?.path });
}

/** Plain HTTP routes beside /graphql, and the request body cap. */
function httpRoutes(deps: AppDeps): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname === '/healthz') return endResponse(Response.json({ status: 'ok' }));
      if (url.pathname === '/readyz') {
        try {
          await deps.ready();
          return endResponse(Response.json({ status: 'ready' }));
        } catch (err) {
          deps.logger.warn({ err }, 'not ready');
          return endResponse(Response.json({ status: 'unavailable' }, { status: 503 }));
        }
      }
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > deps.config.bodyLimitBytes) {
        return endResponse(
          Response.json(
            { errors: [{ message: `Request body over ${deps.config.bodyLimitBytes} bytes`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }] },
            { status: 413 },
          ),
        );
      }
    },
  };
}

export type App = YogaServerInstance<Record<string, unknown>, GraphQLContext>;

/** Builds the whole HTTP app without listening: tests call `app.fetch` in-process. */
export function createApp(deps: AppDeps): App {
  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL from the package's own assets: self-hosted installations are often offline (API.md).
    renderGraphiQL,
    graphiql: { title: 'Verity GraphiQL' },
    logging: deps.logger.child({ component: 'yoga' }),
    maskedErrors: { maskError: (error) => toClientError(error, deps.logger) },
    plugins: [restRoutes(deps), httpRoutes(deps)],
    context: async (initial): Promise<GraphQLContext> => {
      // HTTP and SSE: the request header. WebSocket: connectionParams.authorization, else the
      // upgrade request's Authorization header.
      const i = initial as { request?: Request; connectionParams?: Record<string, unknown>; req?: { headers: Record<string, unknown> } };
      const fromParams = i.connectionParams?.authorization ?? i.connectionParams?.Authorization;
      const header =
        i.request?.headers.get('authorization') ??
        (typeof fromParams === 'string' ? fromParams : undefined) ??
        (typeof i.req?.headers.authorization === 'string' ? i.req.headers.authorization : undefined);
      const principal = await authenticate(deps, header);
      return { deps, principal, tenant: () => tenantOf(deps, principal) };
    },
  });
}
