/**
 * GraphQL abuse limits (docs/operations.md "Limits", docs/security.md): graphql-armor's depth,
 * alias, directive and token limits; a cost limit counted with the operation's variables and
 * default page sizes, and a per-account limit on list-heavy operations running at once; field
 * suggestions off in production; a deadline on execution; and the body cap for bodies sent without
 * Content-Length. Each rejection has a stable
 * `extensions.code`, a message naming the limit and never echoing the input, and an HTTP status
 * (Yoga reads `extensions.http` and strips it from the response).
 */
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import {
  getNullableType,
  getOperationAST,
  getVariableValues,
  isListType,
  Kind,
  visit,
  BREAK,
  type DocumentNode,
  type GraphQLArgument,
  type ValueNode,
  type ExecutionArgs,
  type GraphQLError,
  type ValidationContext,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import type { LimitsConfig } from '../config.ts';
import { readCapped } from './body.ts';
import { LIMITS } from '../domain/validation.ts';

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

const LIMIT_CODES = new Set(['TOO_MANY_TOKENS', 'QUERY_TOO_DEEP', 'TOO_MANY_ALIASES', 'TOO_MANY_DIRECTIVES']);

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
    plugins.push(
      maxTokensPlugin({
        n: limits.maxTokens,
        onReject: [
          (_ctx: unknown, err: GraphQLError) => {
            throw limitError('TOO_MANY_TOKENS', err);
          },
        ],
      }) as Plugin,
    );
  }
  // Introspection (GraphiQL's schema query) is exempt from depth and cost: it is deep by design.
  if (limits.maxDepth > 0)
    plugins.push(maxDepthPlugin({ n: limits.maxDepth, ignoreIntrospection: true, ...report('QUERY_TOO_DEEP') }) as Plugin);
  if (limits.maxAliases > 0) plugins.push(maxAliasesPlugin({ n: limits.maxAliases, ...report('TOO_MANY_ALIASES') }) as Plugin);
  if (limits.maxDirectives > 0) plugins.push(maxDirectivesPlugin({ n: limits.maxDirectives, ...report('TOO_MANY_DIRECTIVES') }) as Plugin);
  if (limits.maxCost > 0 || limits.heavyPerAccount > 0) plugins.push(queryCostLimits(limits));
  // "Did you mean …" hands a prober the schema field by field; production hides it.
  if (!limits.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin({ mask: '' }) as Plugin);
  if (limits.requestTimeoutMs > 0) plugins.push(executionDeadline(limits.requestTimeoutMs));
  return plugins;
}

/**
 * Weights of the cost model: graphql-armor's (a scalar 1, an object 2, its selection × 1.5 per
 * level), with a paged list counting its selection once per row it may return, plus 1000 for the
 * statement that reads it — a list nested under another is read once per parent row, and on the
 * embedded database one such read took as long as a flat page of a few hundred rows.
 */
const SCALAR_COST = 1;
const OBJECT_COST = 2;
const DEPTH_FACTOR = 1.5;
const LIST_READ_COST = 1_000;

/**
 * Rows a paged field may return: `first` or `last` as the request will run it (a literal, a
 * variable's value or the operation's default for it), or the default page size when omitted or
 * null. A size outside 1–max is refused by the field before it reads anything: one row's worth.
 */
function pageRows(value: unknown): number {
  if (value == null) return LIMITS.pageSizeDefault;
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= LIMITS.pageSizeMax ? value : 1;
}

/**
 * One estimator for every field, so a list is costed the same however it is reached (directly,
 * under an alias, through a fragment). `args` arrive coerced: variables and defaults applied.
 * Lists without a size argument (`edges`, a challenge's `fields`) are bounded by their parent.
 */
const estimator: ComplexityEstimator = ({ field, node, args, childComplexity }) => {
  // Introspection is deep by design (GraphiQL's schema query) and reads no table.
  if (field.name === '__schema' || field.name === '__type') return 0;
  if (!node.selectionSet) return SCALAR_COST;
  const object = OBJECT_COST + DEPTH_FACTOR * childComplexity;
  const given = args as Record<string, unknown>;
  if (field.args.some((a) => a.name === 'first' || a.name === 'last')) return LIST_READ_COST + object * pageRows(given.first ?? given.last);
  // A list chosen by a list argument (nodes(ids: [...])): one object per element asked for.
  if (isListType(getNullableType(field.type))) {
    const asked = field.args
      .filter((a) => isListType(getNullableType(a.type)))
      .map((a) => (Array.isArray(given[a.name]) ? (given[a.name] as unknown[]).length : 1));
    if (asked.length) return LIST_READ_COST + object * Math.max(1, ...asked);
  }
  return object;
};

/** Costs that no variable can change, per parsed document (Yoga's parse cache reuses the object) and operation. */
const fixedCosts = new WeakMap<DocumentNode, Map<string, number>>();

/** Does this value (an argument's) reference a variable anywhere inside it? */
function usesVariable(value: ValueNode): boolean {
  if (value.kind === Kind.VARIABLE) return true;
  if (value.kind === Kind.LIST) return value.values.some(usesVariable);
  if (value.kind === Kind.OBJECT) return value.fields.some((f) => usesVariable(f.value));
  return false;
}

/** Is `name` an argument the estimator reads: a page size, or a list that chooses the rows? */
function sizesRows(fieldArgs: readonly GraphQLArgument[], name: string): boolean {
  if (name === 'first' || name === 'last') return true;
  const arg = fieldArgs.find((x) => x.name === name);
  return !!arg && isListType(getNullableType(arg.type));
}

/** Does any directive in the document take a variable (`@include(if: $x)` changes what is counted)? */
function directiveUsesVariable(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive(node) {
      if (node.arguments?.some((a) => usesVariable(a.value))) found = true;
      return found ? BREAK : undefined;
    },
  });
  return found;
}

/**
 * The cost of the operation `args` will run, with the variables it will run with; undefined when
 * there is no such operation or the variables do not fit (execution reports those, with its codes).
 * A document too large to be estimated (a fragment fan-out over graphql-query-complexity's node
 * limit) costs Infinity. A cost no variable can change (no variable in a size or list argument the
 * estimator reads, nor in a directive) is computed once per document: every request repeats it.
 */
export function operationCost(args: Pick<ExecutionArgs, 'schema' | 'document' | 'variableValues' | 'operationName'>): number | undefined {
  const operation = getOperationAST(args.document, args.operationName ?? undefined);
  if (!operation) return undefined;
  const variables = (args.variableValues ?? {}) as Record<string, unknown>;
  if (operation.variableDefinitions?.length && getVariableValues(args.schema, operation.variableDefinitions, variables).errors)
    return undefined;
  const key = args.operationName ?? '';
  const known = fixedCosts.get(args.document)?.get(key);
  if (known !== undefined) return known;
  // Only the operation that runs (and the fragments): the others in the document cost nothing.
  const query: DocumentNode = {
    ...args.document,
    definitions: args.document.definitions.filter((d) => d.kind !== Kind.OPERATION_DEFINITION || d === operation),
  };
  let variable = !!operation.variableDefinitions?.length && directiveUsesVariable(query);
  const counting: ComplexityEstimator = (a) => {
    const cost = estimator(a);
    if (!variable && a.node.arguments?.some((arg) => sizesRows(a.field.args, arg.name.value) && usesVariable(arg.value))) variable = true;
    return cost;
  };
  let cost: number;
  try {
    cost = getComplexity({ schema: args.schema, query, variables, estimators: [counting] });
  } catch {
    return Infinity;
  }
  if (!variable) {
    let byOperation = fixedCosts.get(args.document);
    if (!byOperation) fixedCosts.set(args.document, (byOperation = new Map()));
    byOperation.set(key, cost);
  }
  return cost;
}

const tooCostly = (max: number, cost: number) =>
  createGraphQLError(`Query Cost limit of ${max} exceeded, found ${Number.isFinite(cost) ? cost : 'more than can be counted'}.`, {
    extensions: { code: 'QUERY_TOO_COSTLY', http: { status: 400 } },
  });

/** Whose share of the database an operation spends: the account behind an account or access token. */
function accountOf(contextValue: unknown): string | undefined {
  const principal = (contextValue as { principal?: { kind?: string; accountSid?: string } } | undefined)?.principal;
  if (principal?.kind === 'operator') return 'operator';
  return principal?.accountSid;
}

/**
 * The cost limit and the per-account limit on list-heavy operations, checked when an operation is
 * about to run: only then are its variables known. Validation (cached per document, variables
 * unseen) cannot count `services(first: $n)` and must not guess.
 */
export function queryCostLimits(limits: Pick<LimitsConfig, 'maxCost' | 'heavyCost' | 'heavyPerAccount'>): Plugin {
  /** List-heavy operations running now, per account. */
  const running = new Map<string, number>();
  const check = (args: ExecutionArgs, stop: (result: { errors: GraphQLError[] }) => void): number | undefined => {
    const cost = operationCost(args);
    if (cost !== undefined && limits.maxCost > 0 && cost > limits.maxCost) stop({ errors: [tooCostly(limits.maxCost, cost)] });
    return cost;
  };
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      // Each event runs the selection once: the cost limit applies; a subscription is long-lived, so it takes no running slot.
      check(args, setResultAndStopExecution);
    },
    onExecute({ args, executeFn, setExecuteFn, setResultAndStopExecution }) {
      let stopped = false;
      const cost = check(args, (result) => {
        stopped = true;
        setResultAndStopExecution(result);
      });
      if (stopped || cost === undefined || limits.heavyPerAccount <= 0 || cost < limits.heavyCost) return;
      const account = accountOf(args.contextValue);
      if (!account) return;
      // The slot is taken when the execution starts and given back when it ends, whatever ends it.
      setExecuteFn(async (execArgs) => {
        const n = running.get(account) ?? 0;
        if (n >= limits.heavyPerAccount) {
          // Refused at once rather than queued: a queued request still holds its socket and memory,
          // and the client learns to back off (429 with Retry-After, RFC 6585 §4; Twilio 20429).
          return {
            errors: [
              createGraphQLError(
                `Too many costly queries running for this account at once (limit ${limits.heavyPerAccount}); retry when one has finished`,
                {
                  extensions: {
                    code: 'TOO_MANY_CONCURRENT_QUERIES',
                    twilioCode: 20429,
                    retryAfter: 1,
                    http: { status: 429, headers: { 'retry-after': '1' } },
                  },
                },
              ),
            ],
          };
        }
        running.set(account, n + 1);
        try {
          return await executeFn(execArgs);
        } finally {
          const left = (running.get(account) ?? 1) - 1;
          if (left > 0) running.set(account, left);
          else running.delete(account);
        }
      });
    },
  };
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
