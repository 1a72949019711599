import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { AppDeps, Principal } from '../deps.ts';
import { requestPrincipal, type RequestAuthState, type UpgradeRequest } from '../auth/index.ts';
import { listedOrigins } from '../auth/origins.ts';

// CORS for browsers (docs/browser-clients.md "Allowed origins"). Verity's credentials travel in the
// Authorization header, never in cookies, so CORS here is about keeping account credentials out of
// browsers and letting only listed origins read answers:
//  - no Origin (servers, curl) or the server's own origin (GraphiQL, /demo): unaffected;
//  - a preflight carries no credentials (Fetch §3.2.3 "CORS-preflight request"), so it is answered
//    when any service lists the Origin, and refused (403) otherwise;
//  - an actual cross-origin request passes, with Access-Control-Allow-Origin, only with an access
//    token whose service lists the Origin (or with no valid credentials at all from a listed Origin,
//    so a page can read "Access token expired"); account and operator credentials are refused (403)
//    whatever the Origin: an auth token must never be used from a browser.
// The same verdict guards WebSocket upgrades and graphql-ws connections (src/http.ts).

/** PUT and DELETE: graphql-sse's single connection mode reserves streams and stops operations with them. */
const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
/** What Verity's clients send: the token, JSON bodies, SSE's accept header and graphql-sse's stream token. */
const ALLOW_HEADERS = 'authorization, content-type, accept, x-graphql-event-stream-token';
/** Browsers cache a preflight this long; the actual request is still checked every time. */
const PREFLIGHT_MAX_AGE_S = 600;

/** Same origin as Verity itself: VERITY_PUBLIC_URL, or the host the request was sent to (either scheme, TLS may end at a proxy). */
export function isSameOrigin(config: Config, origin: string, host: string | null | undefined): boolean {
  const o = origin.toLowerCase();
  if (o === new URL(config.publicUrl).origin.toLowerCase()) return true;
  if (!host) return false;
  try {
    // A page cannot choose the Host its browser sends; a DNS-rebound page would match here but
    // holds no credentials (they are headers, never cookies), so it gains nothing over curl.
    return new URL(o).host === host.toLowerCase();
  } catch {
    return false;
  }
}

export type CrossOriginVerdict = { allow: true } | { allow: false; message: string };

/** The one rule for an actual cross-origin request (HTTP, SSE, WebSocket), given who is calling. */
export function crossOriginVerdict(principal: Principal, origin: string, listed: ReadonlySet<string>): CrossOriginVerdict {
  const o = origin.toLowerCase();
  switch (principal.kind) {
    case 'access':
      return principal.allowedOrigins.includes(o)
        ? { allow: true }
        : { allow: false, message: `Origin ${origin} is not in the allowedOrigins of this access token's service` };
    case 'account':
    case 'operator':
      return {
        allow: false,
        message:
          'Account and operator credentials must never be used from a browser: mint an access token on your backend (createAccessToken)',
      };
    case 'anonymous':
      // Nothing can be done without credentials; from a listed origin, let the page read why.
      return listed.has(o)
        ? { allow: true }
        : { allow: false, message: `Origin ${origin} is not allowed: list it in a service's allowedOrigins` };
  }
}

const forbidden = (message: string, headers: Record<string, string> = {}) =>
  Response.json(
    { errors: [{ message, extensions: { code: 'FORBIDDEN', twilioCode: 20403 } }] },
    { status: 403, headers: { vary: 'Origin', ...headers } },
  );

/** Per-request state CORS keeps beside the principal (Yoga's server context, one per request). */
interface CorsState extends RequestAuthState {
  /** The Origin this request's response may be read from (Access-Control-Allow-Origin). */
  corsAllowed?: string;
}

/** The Yoga plugin: runs before every route (GraphQL, SSE, REST). Yoga's own `cors` is turned off. */
export function corsPolicy(deps: AppDeps): Plugin {
  return {
    async onRequest({ request, endResponse, serverContext }) {
      const origin = request.headers.get('origin');
      if (!origin || isSameOrigin(deps.config, origin, request.headers.get('host'))) return;
      const listed = await listedOrigins(deps);
      if (request.method === 'OPTIONS') {
        if (!listed.has(origin.toLowerCase()))
          return endResponse(forbidden(`Origin ${origin} is not allowed: list it in a service's allowedOrigins`));
        return endResponse(
          new Response(null, {
            status: 204,
            headers: {
              'access-control-allow-origin': origin,
              'access-control-allow-methods': ALLOW_METHODS,
              'access-control-allow-headers': ALLOW_HEADERS,
              'access-control-max-age': String(PREFLIGHT_MAX_AGE_S),
              vary: 'Origin',
              'content-length': '0', // Safari waits for a body on a 204 without it
            },
          }),
        );
      }
      let principal: Principal;
      try {
        // Who is calling decides (src/auth/): the same resolution the GraphQL context or REST handler then reuses.
        principal = await requestPrincipal(deps, request, serverContext as CorsState);
      } catch {
        return; // refused by a rate limit: the GraphQL context or REST handler answers 429 from the same promise
      }
      const verdict = crossOriginVerdict(principal, origin, listed);
      if (verdict.allow) return void ((serverContext as CorsState).corsAllowed = origin);
      // From a listed origin the page may read the refusal; from any other it learns nothing.
      endResponse(forbidden(verdict.message, listed.has(origin.toLowerCase()) ? { 'access-control-allow-origin': origin } : {}));
    },
    onResponse({ request, response, serverContext }) {
      const origin = (serverContext as CorsState).corsAllowed;
      if (origin) response.headers.set('access-control-allow-origin', origin);
      if (request.headers.has('origin') && !response.headers.get('vary')?.match(/\borigin\b/i)) response.headers.append('vary', 'Origin');
    },
  };
}

/**
 * WebSocket side. At the upgrade only the Origin is known (credentials arrive in connectionParams
 * afterwards): an unlisted cross-origin upgrade is refused with 403. At graphql-ws ConnectionInit
 * the credentials are known and the same verdict as HTTP applies.
 */
export interface WsOriginPolicy {
  upgrade(req: UpgradeRequest): Promise<{ ok: true } | { ok: false; message: string }>;
  /** At connection_init: the caller (resolved by src/auth/ from connectionParams), judged like HTTP. */
  connect(req: UpgradeRequest, principal: Principal): Promise<CrossOriginVerdict>;
}

export function wsOriginPolicy(deps: AppDeps): WsOriginPolicy {
  const crossOrigin = (req: UpgradeRequest) => {
    const origin = req.headers.origin;
    return origin && !isSameOrigin(deps.config, origin, req.headers.host) ? origin : undefined;
  };
  return {
    async upgrade(req) {
      const origin = crossOrigin(req);
      if (!origin || (await listedOrigins(deps)).has(origin.toLowerCase())) return { ok: true };
      return { ok: false, message: `Origin ${origin} is not allowed` };
    },
    async connect(req, principal) {
      const origin = crossOrigin(req);
      if (!origin) return { allow: true };
      return crossOriginVerdict(principal, origin, await listedOrigins(deps));
    },
  };
}
