import { getOperationAST, Kind, type DocumentNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
import type { RateLimits } from '../deps.ts';
import { authorizeMetrics, requestAddress, type RequestAuthState } from '../auth/index.ts';
import { RateLimitedError } from '../domain/errors.ts';
import { annotateLogContext, currentLogContext, requestIdFrom, runWithLogContext, type LogContext } from './log-context.ts';

interface ObservabilityDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  rateLimits: RateLimits;
}

/** Routes whose access line is debug, not info: probes and scrapes every few seconds would drown the log. */
const QUIET = new Set(['healthz', 'readyz', 'metrics']);

/** The label before anything finer is known: fixed names only, never the raw path. */
function routeOperation(pathname: string, method: string, graphqlEndpoint: string): string {
  if (pathname === graphqlEndpoint) return method === 'GET' ? 'graphql_get' : 'graphql';
  if (pathname === '/healthz') return 'healthz';
  if (pathname === '/readyz') return 'readyz';
  if (pathname === '/metrics') return 'metrics';
  if (pathname.startsWith('/v2/')) return 'rest_unmatched';
  return 'other';
}

/**
 * A GraphQL operation's metrics label: its root field name (from the schema, so the label set is
 * bounded), or `multiple` when it selects several. Aliases and operationName are chosen by clients
 * (unbounded): operationName is logged, never a label.
 */
export function graphqlOperation(document: DocumentNode, operationName?: string | null): string {
  const op = getOperationAST(document, operationName ?? undefined);
  if (!op) return 'graphql';
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d.selectionSet] as const] : [])),
  );
  const names = new Set<string>();
  const visit = (set: SelectionSetNode, depth: number) => {
    if (depth > 5) return;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) names.add(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) visit(s.selectionSet, depth + 1);
      else {
        const f = fragments.get(s.name.value);
        if (f) visit(f, depth + 1);
      }
    }
  };
  visit(op.selectionSet, 0);
  if (names.size > 1) names.delete('__typename');
  if (names.size === 0) return 'graphql';
  return names.size === 1 ? [...names][0]! : 'multiple';
}

/** When each request started and its path (parsed once, in `request`). */
const started = new WeakMap<LogContext, { at: number; path: string }>();

/**
 * Per HTTP request (GraphQL, SSE, REST, health, metrics): a request id (the client's safe
 * `X-Request-Id` or a fresh one) returned in `X-Request-Id` and stamped on every log line through
 * the log context; one access line; the request counters; and `GET /metrics`.
 */
export function observability(deps: ObservabilityDeps, graphqlEndpoint = '/graphql'): Plugin {
  const { metrics } = deps;
  return {
    instrumentation: {
      // Wraps the whole pipeline (every plugin's hooks, the handler), so the context reaches all of it.
      request({ request }, wrapped) {
        const url = new URL(request.url);
        const ctx: LogContext = {
          reqId: requestIdFrom(request.headers.get('x-request-id')),
          operation: routeOperation(url.pathname, request.method, graphqlEndpoint),
        };
        started.set(ctx, { at: performance.now(), path: url.pathname });
        return runWithLogContext(ctx, wrapped);
      },
    },

    async onRequest({ request, url, endResponse, serverContext }) {
      if (url.pathname !== '/metrics') return;
      let allowed;
      try {
        allowed = await authorizeMetrics(
          deps,
          request.headers.get('authorization'),
          requestAddress(deps, request, serverContext as RequestAuthState),
        );
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err;
        // RFC 6585 §4: 429 with Retry-After, as every other endpoint answers a guessing address.
        return endResponse(
          new Response(`${err.message}\n`, {
            status: 429,
            headers: { 'content-type': 'text/plain', 'retry-after': String(err.extra.retryAfter) },
          }),
        );
      }
      if (!allowed) {
        // RFC 6750 §3: a 401 names the scheme the resource expects.
        return endResponse(
          new Response('Unauthorized\n', {
            status: 401,
            headers: { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="verity-metrics"' },
          }),
        );
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return endResponse(new Response('Method not allowed\n', { status: 405, headers: { allow: 'GET, HEAD' } }));
      }
      const body = await metrics.registry.metrics();
      endResponse(new Response(request.method === 'HEAD' ? null : body, { headers: { 'content-type': metrics.registry.contentType } }));
    },

    onExecute({ args }) {
      annotateLogContext({
        operation: graphqlOperation(args.document, args.operationName),
        operationName: args.operationName ?? undefined,
      });
    },
    onSubscribe({ args }) {
      annotateLogContext({
        operation: graphqlOperation(args.document, args.operationName),
        operationName: args.operationName ?? undefined,
      });
    },
    onExecutionResult({ result }) {
      const ctx = currentLogContext();
      if (!ctx || Symbol.asyncIterator in (result as object)) return;
      const results = Array.isArray(result) ? result : [result];
      for (const r of results) {
        for (const e of (r as { errors?: readonly { extensions?: { code?: unknown } }[] }).errors ?? []) {
          const code = typeof e.extensions?.code === 'string' ? e.extensions.code : 'GRAPHQL_ERROR';
          if (!(ctx.errorCodes ??= []).includes(code)) ctx.errorCodes.push(code);
        }
      }
    },

    onResponse({ request, response, setResponse }) {
      const ctx = currentLogContext();
      if (!ctx?.reqId) return;
      try {
        response.headers.set('x-request-id', ctx.reqId);
      } catch {
        // Immutable headers (a fetched response): copy it.
        const headers = new Headers(response.headers);
        headers.set('x-request-id', ctx.reqId);
        setResponse(new Response(response.body, { status: response.status, statusText: response.statusText, headers }));
      }
      const start = started.get(ctx);
      const seconds = start ? (performance.now() - start.at) / 1000 : 0;
      const operation = ctx.operation ?? 'other';
      metrics.request(operation, response.status, seconds);
      const line = {
        method: request.method,
        path: start?.path ?? new URL(request.url).pathname, // never the query string: it may carry anything
        status: response.status,
        // One decimal: a long fraction could mimic a code in a log search (test/logs.redaction.test.ts).
        durationMs: Math.round(seconds * 10_000) / 10,
        ...(ctx.operationName ? { operationName: ctx.operationName.slice(0, 100) } : {}),
        ...(ctx.errorCodes?.length ? { errors: ctx.errorCodes } : {}),
      };
      if (QUIET.has(operation)) deps.logger.debug(line, 'request');
      else deps.logger.info(line, 'request');
    },
  };
}
