/**
 * GraphQL abuse limits (docs/operations.md "Limits"): graphql-armor's depth, alias,
 * directive, token and cost limits, field suggestions off in production, a deadline on execution,
 * and the body cap for bodies sent without Content-Length. Each rejection has a stable
 * `extensions.code`, a message naming the limit and never echoing the input, and an HTTP status
 * (Yoga reads `extensions.http` and strips it from the response).
 */
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { GraphQLError, ValidationContext } from 'graphql';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import type { LimitsConfig } from '../config.ts';
import { readCapped } from './body.ts';

/**
 * armor says "Syntax Error: Query depth limit of 15 exceeded, found 16." — keep the sentence, drop
 * the misleading prefix. `spec: false`: 400 even for `application/json` clients, where Yoga keeps
 * ordinary validation errors at 200 (GraphQL over HTTP): a refused document was never executed,
 * and proxies and monitoring should see that.
 */
const limitError = (code: string, err: GraphQLError) =>
  createGraphQLError(err.message.replace(/^Syntax Error:\s*/, ''), { extensions: { code, http: { status: 400, spec: false } } });

/**
 * Validation-rule limits report through the validation context, so they arrive with any other
 * validation errors and the document is never executed.
 */
const report = (code: string) => ({
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(limitError(code, err))],
});

const LIMIT_CODES = new Set(['TOO_MANY_TOKENS', 'QUERY_TOO_DEEP', 'TOO_MANY_ALIASES', 'TOO_MANY_DIRECTIVES', 'QUERY_TOO_COSTLY']);

/**
 * Yoga marks every parse and validation error `http.spec = true` (kept at 200 for application/json)
 * after the plugins have run; a limit's rejection keeps its 400.
 */
const keepLimitStatus: Plugin = {
  onResultProcess({ result }) {
    if (Array.isArray(result) || !('errors' in result) || !result.errors) return;
    for (const e of result.errors) {
      const http = e.extensions?.http as { spec?: boolean } | undefined;
      if (http && LIMIT_CODES.has(e.extensions?.code as string)) http.spec = false;
    }
  },
};

export function graphqlLimitPlugins(limits: LimitsConfig): Plugin[] {
  const plugins: Plugin[] = [keepLimitStatus];
  if (limits.maxTokens > 0) {
    // Counted while lexing, so a huge document is abandoned at the first token over the limit.
    plugins.push(maxTokensPlugin({
      n: limits.maxTokens,
      onReject: [
        (_ctx: unknown, err: GraphQLError) => {
          throw limitError('TOO_MANY_TOKENS', err);
        },
      ],
    }) as Plugin);
  }
  // Introspection (GraphiQL's schema query) is exempt from depth and cost: it is deep by design.
  if (limits.maxDepth > 0) plugins.push(maxDepthPlugin({ n: limits.maxDepth, ignoreIntrospection: true, ...report('QUERY_TOO_DEEP') }) as Plugin);
  if (limits.maxAliases > 0) plugins.push(maxAliasesPlugin({ n: limits.maxAliases, ...report('TOO_MANY_ALIASES') }) as Plugin);
  if (limits.maxDirectives > 0) plugins.push(maxDirectivesPlugin({ n: limits.maxDirectives, ...report('TOO_MANY_DIRECTIVES') }) as Plugin);
  if (limits.maxCost > 0) plugins.push(costLimitPlugin({ maxCost: limits.maxCost, ignoreIntrospection: true, ...report('QUERY_TOO_COSTLY') }) as Plugin);
  // "Did you mean …" hands a prober the schema field by field; production hides it.
  if (!limits.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin({ mask: '' }) as Plugin);
  if (limits.requestTimeoutMs > 0) plugins.push(executionDeadline(limits.requestTimeoutMs));
  return plugins;
}

/**
 * Queries and mutations must finish within `ms`; subscriptions are long-lived and exempt. When the
 * deadline passes the client gets 503 REQUEST_TIMEOUT at once and execution is aborted: no further
 * resolver starts (so the later fields of a multi-mutation document never run). A resolver already
 * running finishes its own transaction — every service write is atomic — and its result is dropped:
 * the outcome of that one mutation is unknown to the client, as with any timeout.
 */
export function executionDeadline(ms: number): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const request = (args.contextValue as { request?: Request } | undefined)?.request;
      setExecuteFn((execArgs) => {
        // One plain controller per execution, aborted by the deadline or by the client going away.
        // Not AbortSignal.any(): Node keeps a composite signal that has an 'abort' listener in a
        // process-wide set until it aborts, and the executor adds a listener it never removes, so
        // every request that finished in time stayed reachable with its execution context (the
        // soak's and the bench's RSS growth: bench/RESULTS.md "Memory").
        const deadline = new AbortController();
        const clientGone = () => deadline.abort(request!.signal.reason);
        if (request?.signal.aborted) deadline.abort(request.signal.reason);
        else request?.signal.addEventListener('abort', clientGone, { once: true });
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<{ errors: GraphQLError[] }>((resolve) => {
          timer = setTimeout(() => {
            deadline.abort(new DOMException('deadline', 'TimeoutError'));
            resolve({
              errors: [
                createGraphQLError(`The request did not finish within the ${ms} ms limit`, {
                  extensions: { code: 'REQUEST_TIMEOUT', http: { status: 503 } },
                }),
              ],
            });
          }, ms);
        });
        // Yoga's executor stops scheduling resolvers once `signal` aborts (execution cancellation).
        const running = Promise.resolve(executeFn({ ...execArgs, signal: deadline.signal } as typeof execArgs));
        running.catch(() => {}); // after the deadline its rejection (the abort) has no one to tell
        return Promise.race([running, timedOut]).finally(() => {
          clearTimeout(timer);
          // The request's signal can outlive the execution (keep-alive, batching): let go of ours.
          request?.signal.removeEventListener('abort', clientGone);
        }) as ReturnType<typeof executeFn>;
      });
    },
  };
}

/**
 * The body cap for GraphQL requests without Content-Length (chunked): the declared length is
 * checked in server.ts before anything is read; here an undeclared body is read up to the cap and
 * refused with 413 the moment it goes over, never buffered whole.
 */
export function chunkedBodyLimit(limitBytes: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || request.headers.has('content-length') || !request.body) return;
      const inner = requestParser;
      setRequestParser(async (req) => {
        const body = await readCapped(req.body!, limitBytes);
        if (!body) {
          return Response.json(
            { errors: [{ message: `Request body over ${limitBytes} bytes`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }] },
            { status: 413 },
          );
        }
        return inner(new Request(req.url, { method: req.method, headers: req.headers, body, signal: req.signal }));
      });
    },
  };
}
