import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { toClientError, type App } from './server.ts';
import type { Logger } from './logger.ts';
import { wsObservability } from './observability/ws.ts';
import { wsOriginPolicy } from './edge/cors.ts';
import { RateLimitedError } from './domain/errors.ts';

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
  // Yoga answers every request itself, errors included: nothing is left for the promise to report.
  const server = createServer((req, res) => void app(req, res));
  const origins = wsOriginPolicy(app.deps);
  const wss = new WebSocketServer({
    server,
    path: app.graphqlEndpoint,
    // Browsers send Origin on upgrades: an unlisted cross-origin page never gets a socket (src/edge/cors.ts).
    verifyClient: (info, done) => void origins.upgrade(info.req).then((r) => (r.ok ? done(true) : done(false, 403, r.message)), () => done(false, 500)),
  });
  // A connection id (echoed as X-Request-Id on the upgrade) and a log context per operation.
  const obs = wsObservability(wss, opts.logger);
  const ws = useServer(
    {
      execute: (args) => obs.within(args, () => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args)) as never,
      subscribe: (args) => obs.within(args, () => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args)) as never,
      // Credentials are known from ConnectionInit on: account credentials from another origin are refused (4403).
      onConnect: async (ctx) => {
        obs.connected(ctx.extra.request);
        try {
          return (await origins.connect(ctx.extra.request, ctx.connectionParams)).allow;
        } catch (err) {
          if (!(err instanceof RateLimitedError)) throw err;
          // Over the failed-auth budget (or the account's bucket): the socket's answer to HTTP 429.
          ctx.extra.socket.close(4429, err.message);
          return false;
        }
      },
      onClose: (ctx, code) => obs.closed(ctx.extra.request, code),
      onComplete: (ctx, id) => obs.completed(ctx.extra.request, id),
      onSubscribe: (ctx, id, params) => obs.operation(ctx.extra.request, id, async () => {
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
