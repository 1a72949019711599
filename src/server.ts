import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { schema } from './schema/index.ts';
import { RateLimitedError, VerityError } from './domain/errors.ts';
import { unavailableOrSelf } from './infra/unavailable.ts';
import { scopedTenantOf, tenantOf } from './services/context.ts';
import type { AppDeps } from './deps.ts';
import type { GraphQLContext } from './schema/builder.ts';
import type { Logger } from './logger.ts';
import { restRoutes } from './rest/index.ts';
import { chunkedBodyLimit, graphqlLimitPlugins } from './edge/graphql-limits.ts';
import { graphqlOperation, observability } from './observability/http.ts';
import { tracing } from './observability/tracing.ts';
import { queueBoard } from './observability/queue-board.ts';
import { annotateLogContext } from './observability/log-context.ts';
import { yogaLogger } from './observability/yoga-logger.ts';
import { demoRoutes } from './demo/routes.ts';
import { corsPolicy } from './edge/cors.ts';
import { connectionPrincipal, requestPrincipal, type RequestAuthState, type UpgradeRequest } from './auth/index.ts';
import { valuelessValidationErrors, withRequestCode } from './edge/request-errors.ts';
import { connectionPolicy, type ConnectionPolicy } from './edge/connections.ts';
import { graphiqlPage } from './edge/graphiql.ts';
import { sseSingleConnection } from './edge/sse-single-connection.ts';

const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof Error && e.name === 'GraphQLError';

/** Parse and validation messages can quote the input (a literal, a variable's value): never echo a huge one. */
const MAX_MESSAGE = 500;

/** Domain errors keep their code; anything unexpected is logged and masked (DESIGN.md "Errors"). */
export function toClientError(error: unknown, logger: Logger): Error {
  // The executor may wrap a resolver's error more than once: unwrap to the thrown one. Checked by
  // shape, not instanceof: graphql's CJS and ESM builds can both be loaded (dual-package hazard).
  let original: unknown = error;
  while (isGraphQLError(original) && original.originalError) original = original.originalError;
  original = unavailableOrSelf(original, logger); // database outage → SERVICE_UNAVAILABLE (503), not a masked 500
  const located = isGraphQLError(error) ? error : undefined;
  if (original instanceof VerityError) {
    return createGraphQLError(original.message, {
      nodes: located?.nodes,
      path: located?.path,
      extensions: {
        code: original.code,
        ...(original.twilioCode ? { twilioCode: original.twilioCode } : {}),
        ...original.extra,
        // Rate limits answer HTTP 429 with Retry-After (RFC 6585 §4); Yoga strips `http` from the body.
        ...(original instanceof RateLimitedError
          ? { http: { status: 429, headers: { 'retry-after': String(original.extra.retryAfter) } } }
          : {}),
        ...(original.httpStatus === 503
          ? { http: { status: 503, headers: { 'retry-after': String(original.extra.retryAfter ?? 5) } } }
          : {}),
      },
    });
  }
  // Parse, validation and variable errors: safe and useful, reported with a stable code (the outer
  // error says which variable) and cut short. A codeless GraphQLError raised inside execution is unexpected.
  const requestError = isGraphQLError(error) ? withRequestCode(error) : null;
  if (requestError) {
    if (requestError.message.length <= MAX_MESSAGE) return requestError;
    return createGraphQLError(`${requestError.message.slice(0, MAX_MESSAGE)}…`, {
      nodes: requestError.nodes,
      extensions: requestError.extensions,
    });
  }
  logger.error({ err: original }, 'unexpected error');
  return createGraphQLError('Unexpected error', { extensions: { code: 'INTERNAL_SERVER_ERROR' }, path: located?.path });
}

/** Plain HTTP routes beside /graphql, and the request body cap. */
function httpRoutes(deps: AppDeps): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname === '/healthz') return endResponse(Response.json({ status: 'ok' }));
      if (url.pathname === '/readyz') {
        const r = await deps.ready();
        if (r.status === 'ready') return endResponse(Response.json({ status: 'ready' }));
        deps.logger.warn({ readiness: r }, r.status === 'degraded' ? 'degraded: Redis is down' : 'not ready: database is down');
        return endResponse(Response.json(r, { status: r.status === 'unavailable' ? 503 : 200 }));
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

/**
 * The Yoga app and the collaborators it was built with: listen() reads deps for its WebSocket
 * server, and `connections` for the server's deadlines and the stream slots SSE and WebSockets share.
 */
export type App = YogaServerInstance<Record<string, unknown>, GraphQLContext> & {
  readonly deps: AppDeps;
  readonly connections: ConnectionPolicy;
};

/** Builds the whole HTTP app without listening: tests call `app.fetch` in-process. */
export function createApp(deps: AppDeps): App {
  const connections = connectionPolicy(deps);
  const graphiql = graphiqlPage('/graphql');
  const app = createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL from the package's own assets, under a Content-Security-Policy (src/edge/graphiql.ts).
    renderGraphiQL: graphiql.render,
    graphiql: { title: 'Verity GraphiQL' },
    logging: yogaLogger(deps.logger.child({ component: 'yoga' })), // expected client errors at debug, not error
    maskedErrors: { maskError: (error) => toClientError(error, deps.logger) },
    // Yoga's default CORS reflects any Origin; ours decides by origin and credential (src/edge/cors.ts).
    cors: false,
    // The body cap is ours (httpRoutes: the declared length; chunkedBodyLimit: a body without one).
    // Yoga's own would pipe every body through a TransformStream, cap already enforced (bench/RESULTS.md).
    maxRequestBodySize: false,
    plugins: [
      graphiql.headers,
      observability(deps),
      // OpenTelemetry's GraphQL span, only when tracing is on (src/observability/tracing.ts).
      ...(tracing()?.yogaPlugins(graphqlOperation) ?? []),
      // Bull Board at /admin/queues: production mode, operator token only (src/observability/queue-board.ts).
      queueBoard(deps),
      corsPolicy(deps),
      connections.plugin, // after CORS: a refused cross-origin stream takes no slot
      restRoutes(deps),
      httpRoutes(deps),
      demoRoutes(deps),
      chunkedBodyLimit(deps.config.bodyLimitBytes),
      // graphql-sse's single connection mode (PUT reservations); the distinct connections mode is Yoga's own.
      sseSingleConnection(deps, {
        maxOperationsPerStream: deps.config.maxSubscriptionsPerConnection,
        maxStreamsPerPrincipal: 20,
        reservationTtlMs: 30_000,
      }),
      ...graphqlLimitPlugins(deps.config.limits),
      valuelessValidationErrors(),
    ],
    context: async (initial): Promise<GraphQLContext> => {
      // HTTP and SSE: the request (its header, once per request). WebSocket: connectionParams,
      // else the upgrade request's Authorization header. Either way src/auth/ decides.
      const i = initial as RequestAuthState & { request?: Request; connectionParams?: Record<string, unknown>; req?: UpgradeRequest };
      const principal = i.request ? await requestPrincipal(deps, i.request, i) : await connectionPrincipal(deps, i.connectionParams, i.req);
      if (principal.kind === 'account') annotateLogContext({ accountSid: principal.accountSid });
      return { deps, principal, tenant: () => tenantOf(deps, principal), scopedTenant: () => scopedTenantOf(deps, principal) };
    },
  });
  return Object.assign(app, { deps, connections });
}
