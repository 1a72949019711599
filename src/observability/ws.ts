import type { IncomingMessage } from 'node:http';
import type { WebSocketServer } from 'ws';
import type { ExecutionArgs } from 'graphql';
import type { Logger } from '../logger.ts';
import { currentLogContext, requestIdFrom, runWithLogContext, type LogContext } from './log-context.ts';

/**
 * WebSocket (graphql-ws) observability: a connection id per socket — the client's safe
 * `X-Request-Id` on the upgrade request or a fresh one, echoed in the 101 response — and a log
 * context per subscribe message (`reqId` = `<connection id>/<operation id>`), so lines written
 * while resolving or pushing that operation name it. Never logs connectionParams (credentials).
 */
export function wsObservability(wss: WebSocketServer, logger?: Logger) {
  const connIds = new WeakMap<IncomingMessage, string>();
  const byArgs = new WeakMap<object, LogContext>();
  const connId = (req: IncomingMessage) => {
    let id = connIds.get(req);
    if (!id) {
      const h = req.headers['x-request-id'];
      connIds.set(req, (id = requestIdFrom(typeof h === 'string' ? h : undefined)));
    }
    return id;
  };
  wss.on('headers', (headers, req) => headers.push(`X-Request-Id: ${connId(req)}`));
  const inConn = (req: IncomingMessage, fn: () => void) => runWithLogContext({ reqId: connId(req), connId: connId(req) }, fn);
  return {
    connected(req: IncomingMessage): void {
      inConn(req, () => logger?.info({ path: req.url?.split('?')[0] }, 'ws connected'));
    },
    closed(req: IncomingMessage, code: number | undefined): void {
      inConn(req, () => logger?.info({ code }, 'ws closed'));
    },
    completed(req: IncomingMessage, id: string): void {
      runWithLogContext({ reqId: `${connId(req)}/${id}`.slice(0, 140), connId: connId(req) }, () => logger?.debug('ws operation complete'));
    },
    /** Runs onSubscribe (context building, auth, validation) in the operation's log context. */
    operation<T>(req: IncomingMessage, id: string, fn: () => Promise<T>): Promise<T> {
      const ctx: LogContext = { reqId: `${connId(req)}/${id}`.slice(0, 140), connId: connId(req) };
      return runWithLogContext(ctx, async () => {
        logger?.debug('ws subscribe');
        return fn();
      });
    },
    /** Remembers the operation's context for execute/subscribe, which graphql-ws calls outside it. */
    bind(args: ExecutionArgs): ExecutionArgs {
      const ctx = currentLogContext();
      if (ctx && args.contextValue && typeof args.contextValue === 'object') byArgs.set(args.contextValue, ctx);
      return args;
    },
    within<T>(args: ExecutionArgs, fn: () => T): T {
      const ctx = args.contextValue && typeof args.contextValue === 'object' ? byArgs.get(args.contextValue) : undefined;
      return ctx ? runWithLogContext(ctx, fn) : fn();
    },
  };
}
