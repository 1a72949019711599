import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { App } from './server.ts';
import { wsOriginPolicies } from './cors.ts';

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
export async function listen(app: App, opts: { port: number; host?: string; maxSubscriptionsPerConnection: number; keepAliveMs?: number }): Promise<HttpServer> {
  const server = createServer(app);
  const origins = wsOriginPolicies.get(app);
  const wss = new WebSocketServer({
    server,
    path: app.graphqlEndpoint,
    // Browsers send Origin on upgrades: an unlisted cross-origin page never gets a socket (src/cors.ts).
    verifyClient: origins
      ? (info, done) => void origins.upgrade(info.req).then((r) => (r.ok ? done(true) : done(false, 403, r.message)), () => done(false, 500))
      : undefined,
  });
  const ws = useServer(
    {
      // Credentials are known from ConnectionInit on: account credentials from another origin are refused (4403).
      onConnect: async (ctx) => {
        if (!origins) return true;
        const p = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization ?? ctx.extra.request.headers.authorization;
        return (await origins.connect(ctx.extra.request, typeof p === 'string' ? p : undefined)).allow;
      },
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
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
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        return errors.length ? errors : (args as ExecutionArgs);
      },
    },
    wss,
    opts.keepAliveMs ?? 12_000, // ws pings: dead peers are dropped and their subscriptions freed
  );
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
