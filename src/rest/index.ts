/**
 * The Twilio-compatible REST face (Verify v2, TOTP): `/v2/Services/…` as Twilio documents it,
 * so Twilio's own SDKs work by changing their base URL. A second face on the services layer,
 * beside GraphQL: same accounts and credentials, same rules, same data.
 */
import type { Plugin } from 'graphql-yoga';
import type { AppDeps } from '../deps.ts';
import { requestPrincipal, type RequestAuthState } from '../auth/index.ts';
import { tenantOf } from '../services/context.ts';
import { UnauthenticatedError } from '../domain/errors.ts';
import { readForm } from './forms.ts';
import { Router } from './router.ts';
import { challenges, entities, factorImport, factors, recoveryCodes, services, webhooks, type Handler } from './resources.ts';
import { Urls } from './serialize.ts';
import { toTwilioErrorResponse, twilioError } from './errors.ts';
import { annotateLogContext } from '../observability/log-context.ts';

const S = '/v2/Services';
const E = `${S}/:serviceSid/Entities/:identity`;

/** Every endpoint, as listed in docs/rest-twilio.md "REST API (Twilio Verify v2)" and "Verity extensions" (Resync, RecoveryCodes, Factors/Import). */
export function restRouter(): Router<Handler> {
  return new Router<Handler>()
    .add('POST', S, services.create)
    .add('GET', S, services.list)
    .add('GET', `${S}/:sid`, services.fetch)
    .add('POST', `${S}/:sid`, services.update)
    .add('DELETE', `${S}/:sid`, services.remove)
    .add('POST', `${S}/:serviceSid/Entities`, entities.create)
    .add('GET', `${S}/:serviceSid/Entities`, entities.list)
    .add('GET', E, entities.fetch)
    .add('DELETE', E, entities.remove)
    .add('POST', `${E}/Factors`, factors.create)
    .add('GET', `${E}/Factors`, factors.list)
    .add('GET', `${E}/Factors/:sid`, factors.fetch)
    .add('POST', `${E}/Factors/:sid`, factors.update)
    .add('DELETE', `${E}/Factors/:sid`, factors.remove)
    .add('POST', `${E}/Factors/:sid/Resync`, factors.resync) // Verity extension (RFC 6238 §6)
    .add('POST', `${E}/Challenges`, challenges.create)
    .add('GET', `${E}/Challenges`, challenges.list)
    .add('GET', `${E}/Challenges/:sid`, challenges.fetch)
    .add('POST', `${E}/Challenges/:sid`, challenges.update)
    .add('POST', `${E}/RecoveryCodes`, recoveryCodes.generate)
    .add('POST', `${E}/RecoveryCodes/Redeem`, recoveryCodes.redeem)
    .add('POST', `${S}/:serviceSid/Factors/Import`, factorImport.create) // Verity extension (bulk import)
    .add('POST', `${S}/:serviceSid/Webhooks`, webhooks.create)
    .add('GET', `${S}/:serviceSid/Webhooks`, webhooks.list)
    .add('GET', `${S}/:serviceSid/Webhooks/:sid`, webhooks.fetch)
    .add('POST', `${S}/:serviceSid/Webhooks/:sid`, webhooks.update)
    .add('DELETE', `${S}/:serviceSid/Webhooks/:sid`, webhooks.remove);
}

/**
 * A Yoga plugin answering every path under `/v2/`: authenticate exactly as GraphQL does
 * (HTTP Basic AccountSid:AuthToken), route, read the parameters, call the handler, and turn any
 * error into Twilio's error JSON. Nothing under `/v2/` reaches the GraphQL handler.
 */
export function restRoutes(deps: AppDeps): Plugin {
  const router = restRouter();
  const urls = new Urls(deps.config.publicUrl);
  return {
    async onRequest({ request, url, endResponse, serverContext }) {
      if (!url.pathname.startsWith('/v2/')) return;
      endResponse(await handle(request, url, serverContext as RequestAuthState));
    },
  };

  async function handle(request: Request, url: URL, auth: RequestAuthState): Promise<Response> {
    try {
      const match = router.match(request.method, url.pathname);
      annotateLogContext({ operation: restOperation(match, request.method) });
      // Rate limits throw RateLimitedError: Twilio's 429 with code 20429 and Retry-After.
      // The same resolution the CORS check used, if it ran: one authentication, one token from each bucket.
      const principal = await requestPrincipal(deps, request, auth);
      if (principal.kind === 'anonymous') throw new UnauthenticatedError('Authenticate');
      annotateLogContext({ accountSid: principal.kind === 'account' ? principal.accountSid : undefined });
      const tenant = tenantOf(deps, principal); // the operator token is not an account: 403 (20403)
      if (match.kind === 'not-found') return twilioError(404, 20404, `The requested resource ${url.pathname} was not found`);
      if (match.kind === 'method-not-allowed') {
        return twilioError(405, 20004, `Method not allowed: ${request.method} ${url.pathname}`, { allow: match.allow.join(', ') });
      }
      const form = await readForm(request, url, deps.config.bodyLimitBytes);
      const caller = principal.kind === 'account' ? { credential: principal.credential } : {};
      return await match.handler({ tenant, caller, params: match.params, form, urls });
    } catch (error) {
      return toTwilioErrorResponse(error, deps.logger);
    }
  }
}

/** Metrics label: the route template (`POST /v2/Services/:sid`), never the raw path with its SIDs. */
function restOperation(match: ReturnType<Router<Handler>['match']>, method: string): string {
  if (match.kind !== 'found') return 'rest_unmatched';
  return `${method.toUpperCase()} ${match.pattern}`;
}
