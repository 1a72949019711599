/**
 * Authentication's one home: who is calling, from an HTTP request (GraphQL over HTTP, SSE, REST),
 * from WebSocket connectionParams, or for /metrics. Every path checks the credential through
 * `resolvePrincipal`, so each spends the same per-address failed-authentication budget and the
 * caller's per-account buckets exactly once. CORS, REST, the GraphQL context and the WebSocket
 * server ask here; none of them reads a credential itself.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AppDeps, Principal } from '../deps.ts';
import { clientAddress } from './client-address.ts';
import { verifyCredentials } from './credentials.ts';
import { canReadMetrics, isOperator } from './metrics-token.ts';

export { clientAddress } from './client-address.ts';
export { requireManagement } from './management.ts';
export { forgetCachedCredentials } from './credentials.ts';

type AuthDeps = Pick<AppDeps, 'config' | 'rateLimits'>;

/**
 * Resolves an Authorization header presented from `address`. An address over its failed-auth
 * budget is refused (429) before its credentials are even looked at; a wrong credential spends
 * from that budget; a right one spends from the caller's per-account (and per-identity) buckets.
 * No credential at all is anonymous and spends nothing. Throws RateLimitedError.
 */
export async function resolvePrincipal(deps: AppDeps, header: string | null | undefined, address: string): Promise<Principal> {
  const principal = await checkCredentials(deps, header, address);
  if (principal.kind !== 'anonymous') await deps.rateLimits.admit(principal);
  return principal;
}

/** resolvePrincipal without the per-account buckets: the failed-auth budget alone. */
function checkCredentials(deps: AppDeps, header: string | null | undefined, address: string): Promise<Principal> {
  return withFailedAuthBudget(
    deps,
    header,
    address,
    () => verifyCredentials(deps, header),
    (p) => p.kind !== 'anonymous',
  );
}

/**
 * The one failed-auth budget around any credential check: an address over its budget is refused
 * before `verify` runs, and a presented credential that `verify` rejects spends from it.
 */
async function withFailedAuthBudget<T>(
  deps: AuthDeps,
  header: string | null | undefined,
  address: string,
  verify: () => T | Promise<T>,
  accepted: (result: T) => boolean,
): Promise<T> {
  if (header) await deps.rateLimits.authFailures.check(address);
  const result = await verify();
  if (header && !accepted(result)) await deps.rateLimits.authFailures.spend(address);
  return result;
}

/**
 * What Yoga hands every plugin hook and the GraphQL context factory for one HTTP request (the
 * node adapter's `{ req, res }`, or `{}` for app.fetch). The principal is resolved at most once
 * per request, by whichever asks first (CORS, REST, the GraphQL context), and kept here.
 */
export interface RequestAuthState {
  req?: { socket?: { remoteAddress?: string } };
  principal?: Promise<Principal>;
}

/** The caller of an HTTP request: GraphQL over HTTP, SSE and REST alike. One resolution per request. */
export function requestPrincipal(deps: AppDeps, request: Request, state: RequestAuthState): Promise<Principal> {
  return (state.principal ??= resolvePrincipal(deps, request.headers.get('authorization'), requestAddress(deps, request, state)));
}

export const requestAddress = (deps: AuthDeps, request: Request, state: RequestAuthState) =>
  clientAddress(state.req?.socket?.remoteAddress, request.headers.get('x-forwarded-for'), deps.config.limits.trustProxyHops);

/** The upgrade request of a WebSocket, as graphql-ws and the `ws` server hand it over. */
export interface UpgradeRequest {
  headers: IncomingHttpHeaders;
  socket?: { remoteAddress?: string };
}

/** A WebSocket's credential: connectionParams.authorization (or Authorization), else the upgrade request's header. */
export function connectionAuthorization(
  connectionParams: Readonly<Record<string, unknown>> | undefined,
  req: UpgradeRequest | undefined,
): string | undefined {
  const fromParams = connectionParams?.authorization ?? connectionParams?.Authorization;
  if (typeof fromParams === 'string') return fromParams;
  const header = req?.headers.authorization;
  return typeof header === 'string' ? header : undefined;
}

/** The client address of a Node request: a WebSocket's upgrade request, or a request to the metrics port. */
export function nodeRequestAddress(deps: AuthDeps, req: UpgradeRequest | undefined): string {
  const forwarded = req?.headers['x-forwarded-for'];
  return clientAddress(
    req?.socket?.remoteAddress,
    typeof forwarded === 'string' ? forwarded : undefined,
    deps.config.limits.trustProxyHops,
  );
}

/**
 * The caller of a WebSocket (graphql-ws connection_init, and each subscribe message), from its
 * connectionParams or upgrade request. Spends the same budgets as HTTP. Throws RateLimitedError.
 */
export function connectionPrincipal(
  deps: AppDeps,
  connectionParams: Readonly<Record<string, unknown>> | undefined,
  req: UpgradeRequest | undefined,
): Promise<Principal> {
  return resolvePrincipal(deps, connectionAuthorization(connectionParams, req), nodeRequestAddress(deps, req));
}

/**
 * The caller at a WebSocket's connection_init, which decides whether the socket stays open. The
 * credential is checked like any other (an address over its failed-auth budget is refused, a wrong
 * one spends from it), but the account's buckets are left to each subscribe message, which spends
 * them as a request would: a connect is not an operation. Throws RateLimitedError.
 */
export function connectionInitPrincipal(
  deps: AppDeps,
  connectionParams: Readonly<Record<string, unknown>> | undefined,
  req: UpgradeRequest | undefined,
): Promise<Principal> {
  return checkCredentials(deps, connectionAuthorization(connectionParams, req), nodeRequestAddress(deps, req));
}

/**
 * May this header read /metrics (the operator or the metrics token)? Same per-address budget as
 * every other credential check, so the metrics token cannot be guessed at line rate on either
 * port. Throws RateLimitedError (429) for an address over its budget.
 */
export function authorizeMetrics(deps: AuthDeps, header: string | null | undefined, address: string): Promise<boolean> {
  return withFailedAuthBudget(
    deps,
    header,
    address,
    () => canReadMetrics(deps.config, header),
    (ok) => ok,
  );
}

/**
 * May this header open an operator page (the queue dashboard)? The operator token as Bearer or as
 * a Basic password, under the same per-address budget as every other credential check. Throws
 * RateLimitedError (429) for an address over its budget.
 */
export function authorizeOperatorPage(deps: AuthDeps, header: string | null | undefined, address: string): Promise<boolean> {
  return withFailedAuthBudget(
    deps,
    header,
    address,
    () => isOperator(deps.config, header),
    (ok) => ok,
  );
}
