import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { ConnectionLimits } from '../config.ts';
import type { AppDeps, Principal } from '../deps.ts';
import { nodeRequestAddress, requestAddress, requestPrincipal, type RequestAuthState, type UpgradeRequest } from '../auth/index.ts';

/**
 * Connection-level limits (docs/security.md "Connections"): deadlines for slow clients, a cap on
 * open TCP connections, and caps on long-lived streams — WebSockets and SSE responses, counted
 * together — per client address and per account. Counts are per process: N instances behind a
 * load balancer admit up to N times a cap.
 */

/** The stable code of an over-cap refusal: SSE answers it with HTTP 429, a WebSocket closes with 1013 and it as reason. */
export const TOO_MANY_CONNECTIONS = 'TOO_MANY_CONNECTIONS';

/**
 * WebSocket close codes. 1009 "Message Too Big" (RFC 6455 §7.4.1) is sent by `ws` itself past
 * maxPayload. Over a cap: 1013 "Try Again Later" (IANA WebSocket close code registry, RFC 6455
 * §11.7), which graphql-ws clients retry with backoff — a slot frees when another socket closes —
 * where 4429 means "too many connection_init messages" in the graphql-ws protocol and is final.
 * Credentials follow graphql-ws: 4401 missing or invalid, 4403 valid but not allowed here.
 */
export const WS_CLOSE = { tooBig: 1009, tryAgainLater: 1013, unauthorized: 4401, forbidden: 4403 } as const;

/** Counts of open streams per key, bounded by `max` (0 = no bound). */
export class Slots {
  private readonly open = new Map<string, number>();
  constructor(readonly max: number) {}

  /** Takes a slot for `key`: a release function (idempotent), or null when the key is at its cap. */
  take(key: string): (() => void) | null {
    const n = this.open.get(key) ?? 0;
    if (this.max > 0 && n >= this.max) return null;
    this.open.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left > 0) this.open.set(key, left);
      else this.open.delete(key);
    };
  }

  count(key: string): number {
    return this.open.get(key) ?? 0;
  }
}

/** The account a principal's streams count against; operator and anonymous have none. */
export const accountOf = (p: Principal): string | undefined => (p.kind === 'account' || p.kind === 'access' ? p.accountSid : undefined);

export interface ConnectionPolicy {
  limits: ConnectionLimits;
  /** Largest request body, and so the largest WebSocket message. */
  bodyLimitBytes: number;
  perAddress: Slots;
  perAccount: Slots;
  /** The client address of a WebSocket's upgrade request (VERITY_TRUST_PROXY applies). */
  address(req: UpgradeRequest): string;
  /** The SSE half: a Yoga plugin counting event streams on the GraphQL endpoint. */
  plugin: Plugin;
}

export function connectionPolicy(deps: AppDeps, graphqlEndpoint = '/graphql'): ConnectionPolicy {
  const limits = deps.config.connections;
  const perAddress = new Slots(limits.maxStreamsPerAddress);
  const perAccount = new Slots(limits.maxStreamsPerAccount);
  const refused = (message: string) =>
    Response.json({ errors: [{ message, extensions: { code: TOO_MANY_CONNECTIONS } }] }, { status: 429 });

  const plugin: Plugin = {
    async onRequest({ request, url, endResponse, serverContext }) {
      if (url.pathname !== graphqlEndpoint || !request.headers.get('accept')?.includes('text/event-stream')) return;
      // Only a response on a real socket holds a connection (in-process app.fetch has none).
      const state = serverContext as RequestAuthState & { req?: IncomingMessage; res?: ServerResponse };
      const { req, res } = state;
      if (!req || !res) return;
      const gone = () => res.closed || res.destroyed || !!req.socket?.destroyed;
      const releaseAddress = perAddress.take(requestAddress(deps, request, state));
      if (!releaseAddress) {
        deps.logger.debug({ limit: perAddress.max }, 'sse refused: address at its stream cap');
        return endResponse(refused(`At most ${perAddress.max} open streams (WebSockets and SSE) per client address`));
      }
      res.once('close', releaseAddress);
      if (gone()) return releaseAddress();
      let principal: Principal;
      try {
        principal = await requestPrincipal(deps, request, state);
      } catch {
        return; // refused by a rate limit: the GraphQL context answers 429 from the same promise
      }
      const account = accountOf(principal);
      if (!account || gone()) return;
      const releaseAccount = perAccount.take(account);
      if (!releaseAccount) {
        deps.logger.debug({ limit: perAccount.max }, 'sse refused: account at its stream cap');
        return endResponse(refused(`At most ${perAccount.max} open streams (WebSockets and SSE) per account`));
      }
      res.once('close', releaseAccount);
      if (gone()) releaseAccount();
    },
  };
  return {
    limits,
    bodyLimitBytes: deps.config.bodyLimitBytes,
    perAddress,
    perAccount,
    plugin,
    address: (req) => nodeRequestAddress(deps, req),
  };
}

/** node:http options for the slow-client deadlines (the caps on streams are counted elsewhere). */
export function serverOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.bodyTimeoutMs,
    // node:http enforces both deadlines on this sweep (default 30 s, which would let a slow client
    // overstay a short deadline by that much): a quarter of the shorter deadline, 1 s at most.
    connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.bodyTimeoutMs) / 4))),
  };
}

/** Settings node:http only takes as properties. */
export function applyServerLimits(server: Server, limits: ConnectionLimits): void {
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Past the cap node:http drops new TCP connections at once (before reading a byte).
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections;
}
