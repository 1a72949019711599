import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { TOKEN_HEADER_KEY, TOKEN_QUERY_KEY } from 'graphql-sse';
import type { AppDeps, Principal } from '../deps.ts';
import { VerityError } from '../domain/errors.ts';
import { requestPrincipal, type RequestAuthState } from '../auth/index.ts';

/**
 * graphql-sse's single connection mode (PROTOCOL.md "Single connection mode") on /graphql: `PUT`
 * reserves a stream and answers its token, `GET`/`POST` with `Accept: text/event-stream` and the
 * token opens it, `POST`s with the token add operations to it, `DELETE ?operationId=` stops one.
 * Only requests of that mode reach the plugin; everything else (the distinct connections mode
 * included) stays with Yoga's own handler.
 *
 * The token is a bearer capability for the stream, so it is bound to the principal that reserved
 * it: a request of another principal carrying it is answered like an unknown token (404).
 */
export interface SingleConnectionOptions {
  /** Operations one stream may carry at once (graphql-ws gets the same cap per socket). */
  maxOperationsPerStream: number;
  /** Live (reserved or open) streams per principal. */
  maxStreamsPerPrincipal: number;
  /** A reservation not opened within this is released (the handler would keep it forever). */
  reservationTtlMs: number;
}

interface StreamEntry {
  owner: string;
  open: boolean;
  operations: number;
  timer?: NodeJS.Timeout;
}

/** Who may use a stream: the account, or the access token's identity (never the operator or nobody). */
function ownerOf(p: Principal): string | null {
  if (p.kind === 'account') return `account:${p.accountSid}`;
  if (p.kind === 'access') return `access:${p.accountSid}:${p.serviceSid}:${p.identity}`;
  return null;
}

const json = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  Response.json({ errors: [{ message, extensions: { code } }] }, { status, headers });

/** The stream token a request carries (header, else the query parameter), as graphql-sse reads it. */
function tokenOf(request: Request, url: URL): string | null {
  return request.headers.get(TOKEN_HEADER_KEY) ?? url.searchParams.get(TOKEN_QUERY_KEY);
}

export function sseSingleConnection(deps: AppDeps, opts: SingleConnectionOptions): Plugin {
  const streams = new Map<string, StreamEntry>();
  const tokenOfRequest = new WeakMap<Request, string>();
  const perOwner = new Map<string, number>();
  const release = (token: string) => {
    const s = streams.get(token);
    if (!s) return;
    streams.delete(token);
    clearTimeout(s.timer);
    const n = (perOwner.get(s.owner) ?? 1) - 1;
    if (n > 0) perOwner.set(s.owner, n);
    else perOwner.delete(s.owner);
  };

  const sse = useGraphQLSSE({
    endpoint: '/graphql',
    // The token is chosen in onRequest below: graphql-sse's default comes from Math.random, and a
    // guessable token would let anyone read a stream; a reservation gets a UUIDv4 from the CSPRNG.
    authenticate: (req) => tokenOfRequest.get(req.raw as Request) ?? '',
    onComplete: (_ctx, req) => {
      const token = tokenOfRequest.get(req.raw as Request);
      const s = token ? streams.get(token) : undefined;
      if (s && s.operations > 0) s.operations--;
    },
  });
  type Payload = Parameters<NonNullable<typeof sse.onRequest>>[0];
  /** Hands the request to the plugin, seeing (and possibly replacing) its answer. */
  const handle = (payload: Payload, map: (r: Response) => Response = (r) => r) =>
    sse.onRequest!({ ...payload, endResponse: (r: Response) => payload.endResponse(map(r)) });

  /** Ends a reservation nobody opened: the handler frees a stream only when its GET ends. */
  const expire = (token: string, payload: Payload) => {
    const s = streams.get(token);
    if (!s || s.open) return;
    s.open = true;
    const abort = new AbortController();
    abort.abort();
    const request = new Request(payload.request.url, {
      headers: { accept: 'text/event-stream', [TOKEN_HEADER_KEY]: token },
      signal: abort.signal,
    });
    tokenOfRequest.set(request, token);
    void Promise.resolve(handle({ ...payload, request, endResponse: (r: Response) => void r.body?.cancel() }))
      .catch((err: unknown) => deps.logger.warn({ err }, 'releasing an unopened event stream failed'))
      .finally(() => release(token));
  };

  return {
    onYogaInit: sse.onYogaInit,
    async onRequest(payload) {
      const { request, url, endResponse, serverContext } = payload;
      if (url.pathname !== '/graphql') return;
      const token = tokenOf(request, url);
      if (request.method !== 'PUT' && request.method !== 'DELETE' && !token) return; // distinct connections: Yoga's own

      let principal: Principal;
      try {
        principal = await requestPrincipal(deps, request, serverContext as RequestAuthState);
      } catch (e) {
        if (!(e instanceof VerityError)) throw e;
        const retry = e.extra.retryAfter;
        return endResponse(json(e.httpStatus, e.code, e.message, retry ? { 'retry-after': String(retry) } : {}));
      }
      const owner = ownerOf(principal);
      if (!owner) {
        return endResponse(
          principal.kind === 'operator'
            ? json(403, 'FORBIDDEN', 'The operator token manages accounts only')
            : json(
                401,
                'UNAUTHENTICATED',
                principal.kind === 'anonymous' && principal.reason
                  ? principal.reason
                  : 'Subscriptions need account credentials or an access token',
              ),
        );
      }

      if (request.method === 'PUT') {
        const live = perOwner.get(owner) ?? 0;
        if (live >= opts.maxStreamsPerPrincipal) {
          return endResponse(json(429, 'TOO_MANY_SUBSCRIPTIONS', `At most ${opts.maxStreamsPerPrincipal} event streams at once`));
        }
        // Registered before the handler answers, so the client's GET can never arrive first.
        const fresh = randomUUID();
        const entry: StreamEntry = { owner, open: false, operations: 0 };
        entry.timer = setTimeout(() => expire(fresh, payload), opts.reservationTtlMs).unref();
        streams.set(fresh, entry);
        perOwner.set(owner, live + 1);
        tokenOfRequest.set(request, fresh);
        return handle(payload, (r) => {
          if (r.status !== 201) release(fresh);
          return r;
        });
      }

      const s = token ? streams.get(token) : undefined;
      // Another principal's token reads exactly like one that does not exist.
      if (!token || !s || s.owner !== owner) return endResponse(json(404, 'NOT_FOUND', 'Stream not found'));
      tokenOfRequest.set(request, token);
      if (request.headers.get('accept') === 'text/event-stream') {
        if (s.open) return endResponse(json(409, 'CONFLICT', 'Stream already open'));
        s.open = true;
        clearTimeout(s.timer);
        request.signal.addEventListener('abort', () => release(token));
        return handle(payload, (r) => {
          if (r.ok && r.body) return untilEnd(r, () => release(token));
          release(token);
          return r;
        });
      }
      if (request.method === 'POST') {
        if (s.operations >= opts.maxOperationsPerStream) {
          return endResponse(json(429, 'TOO_MANY_SUBSCRIPTIONS', `At most ${opts.maxOperationsPerStream} operations per stream`));
        }
        s.operations++; // before the handler runs: the operation may complete before it answers
        return handle(payload, (r) => {
          if (r.status !== 202 && s.operations > 0) s.operations--;
          return r;
        });
      }
      return handle(payload);
    },
  };
}

/** A response whose body calls `done` once it ends or the client goes away. */
function untilEnd(res: Response, done: () => void): Response {
  const reader = res.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await reader.read();
      if (r.done) {
        done();
        c.close();
      } else c.enqueue(r.value);
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
