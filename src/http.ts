import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { toClientError, type App } from './server.ts';
import type { Logger } from './logger.ts';
import { wsObservability } from './observability/ws.ts';
import { wsOriginPolicy } from './edge/cors.ts';
import { RateLimitedError } from './domain/errors.ts';
import { accountOf, applyServerLimits, serverOptions, WS_CLOSE, TOO_MANY_CONNECTIONS } from './edge/connections.ts';
import { connectionInitPrincipal } from './auth/index.ts';
import type { Principal } from './deps.ts';

const silent = { error: () => {} } as unknown as Parameters<typeof toClientError>[1];

export interface HttpServer {
  server: Server;
  port: number;
  /** Stop accepting, end subscriptions, let in-flight requests finish (bounded), then resolve. */
  close(): Promise<void>;
}

/**
 * One port for everything: HTTP (GraphQL, SSE subscriptions, REST, health) through Yoga, and
 * WebSocket subscriptions (graphql-ws protocol) on the same /graphql path.
 */
export async function listen(
  app: App,
  opts: { port: number; host?: string; maxSubscriptionsPerConnection: number; keepAliveMs?: number; logger?: Logger },
): Promise<HttpServer> {
  const policy = app.connections;
  // Yoga answers every request itself, errors included: nothing is left for the promise to report.
  const server = createServer(serverOptions(policy.limits), (req, res) => void app(req, res));
  applyServerLimits(server, policy.limits);
  const origins = wsOriginPolicy(app.deps);
  const wss = new WebSocketServer({
    server,
    path: app.graphqlEndpoint,
    // A message is a request: the body limit bounds it, checked from the frame header before the
    // payload is buffered; past it ws closes with 1009 "Message Too Big" (RFC 6455 §7.4.1).
    maxPayload: policy.bodyLimitBytes,
    // Browsers send Origin on upgrades: an unlisted cross-origin page never gets a socket (src/edge/cors.ts).
    verifyClient: (info, done) =>
      void origins.upgrade(info.req).then(
        (r) => (r.ok ? done(true) : done(false, 403, r.message)),
        () => done(false, 500),
      ),
  });
  // A connection id (echoed as X-Request-Id on the upgrade) and a log context per operation.
  const obs = wsObservability(wss, opts.logger);
  // Registered before graphql-ws's own listener: an address over its stream cap is closed before
  // any message is read. Its slot (and the account's, taken at ConnectionInit) frees on close.
  const releases = new WeakMap<WebSocket, Array<() => void>>();
  wss.on('connection', (socket, req) => {
    quietProtocolErrors(socket, opts.logger);
    const release = policy.perAddress.take(policy.address(req));
    if (!release) {
      socket.close(WS_CLOSE.tryAgainLater, `${TOO_MANY_CONNECTIONS}: at most ${policy.perAddress.max} per client address`);
      return;
    }
    releases.set(socket, [release]);
    socket.once('close', () => releases.get(socket)?.forEach((r) => r()));
  });
  const ws = useServer(
    {
      execute: (args) => obs.within(args, () => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args)) as never,
      subscribe: (args) =>
        obs.within(args, () => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args)) as never,
      // Credentials are known from ConnectionInit on: a socket without valid ones is closed (4401)
      // rather than held open for nothing; account credentials from another origin are refused (4403).
      onConnect: async (ctx) => {
        obs.connected(ctx.extra.request);
        const { socket, request } = ctx.extra;
        let principal: Principal;
        try {
          principal = await connectionInitPrincipal(app.deps, ctx.connectionParams, request);
        } catch (err) {
          if (!(err instanceof RateLimitedError)) throw err;
          // Over the failed-auth budget: the socket's answer to HTTP 429 (graphql-ws clients do not retry it).
          socket.close(4429, err.message.slice(0, 120));
          return false;
        }
        if (principal.kind === 'anonymous') {
          socket.close(WS_CLOSE.unauthorized, 'Unauthorized: send valid credentials in connection_init');
          return false; // graphql-ws's own 4403 close is a no-op on a closing socket
        }
        if (!(await origins.connect(request, principal)).allow) return false;
        const account = accountOf(principal);
        if (account && socket.readyState === socket.OPEN) {
          const release = policy.perAccount.take(account);
          if (!release) {
            socket.close(WS_CLOSE.tryAgainLater, `${TOO_MANY_CONNECTIONS}: at most ${policy.perAccount.max} per account`);
            return false;
          }
          const held = releases.get(socket);
          if (held) held.push(release);
          else release();
        }
        return true;
      },
      onClose: (ctx, code) => obs.closed(ctx.extra.request, code),
      onComplete: (ctx, id) => obs.completed(ctx.extra.request, id),
      onSubscribe: (ctx, id, params) =>
        obs.operation(ctx.extra.request, id, async () => {
          // A cap per connection: one socket cannot hold unbounded server-side iterators.
          // graphql-ws has already reserved this subscription's slot when onSubscribe runs.
          if (Object.keys(ctx.subscriptions).length > opts.maxSubscriptionsPerConnection) {
            return [
              new GraphQLError(`At most ${opts.maxSubscriptionsPerConnection} subscriptions per connection`, {
                extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' },
              }),
            ];
          }
          const { schema, execute, subscribe, contextFactory, parse, validate } = app.getEnveloped({
            ...ctx,
            req: ctx.extra.request,
            socket: ctx.extra.socket,
            params,
          });
          // Parse limits (tokens) and context errors (rate limits, 429) are answered as this
          // subscription's error, as over HTTP: thrown here they would close the whole socket.
          let args;
          try {
            args = {
              schema,
              operationName: params.operationName,
              document: parse(params.query),
              variableValues: params.variables,
              contextValue: await contextFactory(),
              rootValue: { execute, subscribe },
            };
          } catch (err) {
            return [wsError(err)];
          }
          const errors = validate(args.schema, args.document);
          return errors.length ? errors.map(wsError) : obs.bind(args as ExecutionArgs);
        }),
    },
    wss,
    opts.keepAliveMs ?? 12_000, // ws pings: dead peers are dropped and their subscriptions freed
  );
  /** The client's view of an error, as Yoga would answer it over HTTP (the `http` hint is HTTP-only). */
  function wsError(err: unknown): GraphQLError {
    const e = toClientError(err, opts.logger ?? silent);
    const { http: _http, ...extensions } = (e as GraphQLError).extensions ?? {};
    return new GraphQLError(e.message, { extensions });
  }
  server.listen(opts.port, opts.host);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await ws.dispose(); // completes every WebSocket subscription and closes the sockets
      wss.close();
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 10_000).unref();
      await closed;
      clearTimeout(force);
    },
  };
}

/**
 * A peer's protocol violation (a message over maxPayload, bad UTF-8, a bad opcode) is emitted by ws
 * as an 'error' after ws has already closed the socket with the matching code (RFC 6455 §7.4.1).
 * graphql-ws would print each one's stack to stderr: anyone could flood it. It is logged here, at
 * debug, and goes no further.
 */
function quietProtocolErrors(socket: WebSocket, logger: Logger | undefined): void {
  const emit = socket.emit.bind(socket);
  socket.emit = ((event: string | symbol, ...args: unknown[]) => {
    const err = args[0] as { code?: unknown; message?: string } | undefined;
    if (event === 'error' && typeof err?.code === 'string' && err.code.startsWith('WS_ERR_')) {
      logger?.debug({ wsError: err.code }, `ws protocol error: ${err.message}`);
      return true;
    }
    return emit(event, ...args);
  }) as typeof socket.emit;
}
