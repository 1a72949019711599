// OpenTelemetry traces, loaded only when the spec's own variables ask for them (tracing.ts): the
// Node SDK reads OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_* and the rest itself; we only choose the instrumentations
// and what they may record. Nothing here imports pg, ioredis or our own database code: they must
// load after the hooks below are in place.
import { register } from 'node:module';
import { SpanKind, trace, type Span } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { useOpenTelemetry, otelContextMap } from '@envelop/opentelemetry';
import { getOperationAST, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { BullMQOtel } from 'bullmq-otel';

/** Paths probed or scraped every few seconds: a span each would bury the traces that matter. */
const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);

/** A URL without its query string: a query may carry anything (a GraphQL GET's variables, a webhook URL's token). */
function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Strips the query from every URL attribute the HTTP instrumentation derived from the request
 * (old and stable semantic conventions alike), and drops `url.query`. The SDK's span keeps its
 * attributes in a plain object, which the API offers no way to remove from.
 */
function dropQuery(span: Span): void {
  const attributes = (span as unknown as { attributes?: Record<string, unknown> }).attributes;
  if (!attributes) return;
  for (const key of ['url.full', 'http.url', 'http.target']) {
    const value = attributes[key];
    if (typeof value === 'string') span.setAttribute(key, withoutQuery(value));
  }
  delete attributes['url.query'];
}

type OperationLabel = (document: DocumentNode, operationName?: string | null) => string;

/** Starts the SDK; the result is tracing.ts's TracingHooks (not imported here: tracing.ts imports this file). */
export async function startTracing(defaultServiceName: string) {
  // This project is ESM: pg, ioredis and node:http are imported, not required, so the
  // instrumentations can only patch them through import-in-the-middle's loader hook.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME?.trim() || defaultServiceName,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED.has(withoutQuery(req.url ?? '/')),
        requestHook: dropQuery,
      }),
      // SQL text only ($1 placeholders): parameter values are recorded only with
      // enhancedDatabaseReporting, which stays off (they include code hashes, steps, SIDs).
      new PgInstrumentation({ enhancedDatabaseReporting: false }),
      // The command name only: arguments include job payloads, limiter keys and pub/sub messages.
      new IORedisInstrumentation({ dbStatementSerializer: (command) => command }),
    ],
  });
  sdk.start();

  const tracerProvider = trace.getTracerProvider();
  return {
    yogaPlugins(operationLabel: OperationLabel): Plugin[] {
      return [
        // No variables, no resolver arguments, no result, no document: a code or token may be in any.
        useOpenTelemetry(
          { resolvers: false, variables: false, result: false, document: false },
          tracerProvider,
          SpanKind.INTERNAL,
          {},
          'verity-graphql',
        ) as Plugin,
        renameOperationSpan(operationLabel),
      ];
    },
    bullmq: new BullMQOtel({ tracerName: 'verity-jobs' }),
    shutdown: (): Promise<void> => sdk.shutdown(),
  };
}

/**
 * The envelop plugin names a span after the client's operationName (anything a client likes);
 * ours says what ran: the operation type and root field, e.g. `mutation createChallenge`.
 */
function renameOperationSpan(operationLabel: OperationLabel): Plugin {
  return {
    onExecute({ args }) {
      const ctx = otelContextMap.get(args.contextValue as object);
      const span = ctx && trace.getSpan(ctx);
      if (!span) return;
      const type = getOperationAST(args.document, args.operationName)?.operation ?? 'query';
      const field = operationLabel(args.document, args.operationName);
      span.updateName(`${type} ${field}`);
      span.setAttributes({ 'graphql.operation.type': type, 'graphql.operation.field': field });
    },
  };
}
