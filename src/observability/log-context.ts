import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * What every log line written while handling one request (or one job, or one WebSocket operation)
 * carries. It travels with AsyncLocalStorage, so `deps.logger` in any service, Yoga's own logger
 * and the Prisma layer below all stamp the same `reqId` without a logger being threaded through
 * every call. Fields are filled in as they become known (accountSid after authentication, the
 * operation once the GraphQL document or REST route is resolved). Never put a secret here.
 */
export interface LogContext {
  /** HTTP requests and WebSocket operations; jobs have `jobId` instead. */
  reqId?: string;
  accountSid?: string;
  /** Bounded label: GraphQL root field name(s), REST route template, or a fixed route name. */
  operation?: string;
  /** The client's operationName (GraphQL), logged only, never a metric label (unbounded). */
  operationName?: string;
  /** Stable error codes of a GraphQL response (`extensions.code`), for the access log. */
  errorCodes?: string[];
  /** Background jobs: the job id (SIDs only, DESIGN.md "Secrets") and name. */
  jobId?: string;
  job?: string;
  /** WebSocket: the connection id; `reqId` is then `<connId>/<subscribe id>`. */
  connId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

export function runWithLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

/** Fields pino merges into every line (logger.ts `mixin`); nothing when outside any context. */
export function logContextFields(): Record<string, string> {
  const c = storage.getStore();
  if (!c) return {};
  const out: Record<string, string> = {};
  if (c.reqId) out.reqId = c.reqId;
  if (c.accountSid) out.accountSid = c.accountSid;
  if (c.operation) out.operation = c.operation;
  if (c.connId) out.connId = c.connId;
  if (c.jobId) out.jobId = c.jobId;
  if (c.job) out.job = c.job;
  return out;
}

// Short and inert: it is echoed in a response header and written to logs, so nothing that could
// split a header, inject a log field or grow without bound (CWE-117) is accepted from a client.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The client's `X-Request-Id` when it is safe to echo and log, else a fresh one. */
export function requestIdFrom(header: string | null | undefined): string {
  return header && SAFE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Adds what became known (accountSid, operation…) to the current context; a no-op outside one. */
export function annotateLogContext(fields: Partial<Omit<LogContext, 'reqId'>>): void {
  const c = storage.getStore();
  if (c) Object.assign(c, fields);
}
