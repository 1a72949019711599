import pg from 'pg';

export interface PgTimeouts {
  /** Opening a connection, or waiting for a free one in the pool, fails after this long. */
  connectTimeoutMs: number;
  /**
   * PostgreSQL cancels a statement running longer than this (server-side `statement_timeout`).
   * 0 turns both statement deadlines off (migrations: a long index build is legitimate).
   */
  statementTimeoutMs: number;
}

/** How much longer than `statement_timeout` the client waits before it gives the connection up. */
export const CLIENT_DEADLINE_MARGIN_MS = 500;

const READ_TIMEOUT = 'Query read timeout'; // pg's own message for query_timeout

/**
 * A pg Client that drops its connection when a query outlives the client-side deadline.
 *
 * pg's `query_timeout` fails the query but keeps the socket, and Prisma's adapter releases a
 * transaction's connection back to the pool without an error — so after a black-holed link the
 * pool would hand out a connection whose earlier query is still "in flight", and every request
 * on it would hang until its own timeout. Destroying the socket marks the client unusable and the
 * pool discards it. The server-side statement_timeout fires first whenever the server can still
 * answer, so a merely slow query is cancelled without losing the connection.
 */
class DeadlineClient extends pg.Client {
  override query(...args: unknown[]): never {
    const drop = (err: unknown) => {
      if (err instanceof Error && err.message === READ_TIMEOUT) this.connection.stream.destroy();
    };
    const last = args.length - 1;
    const cb = args[last];
    if (typeof cb === 'function') {
      args[last] = (err: unknown, res: unknown) => {
        drop(err);
        (cb as (e: unknown, r: unknown) => void)(err, res);
      };
    }
    const result = (super.query as (...a: unknown[]) => unknown)(...args);
    if (result instanceof Promise) result.catch(drop);
    return result as never;
  }
}

/** Pool settings that make an unreachable database fail requests within bounded time. */
export function pgPoolConfig(connectionString: string, max: number, t: PgTimeouts): pg.PoolConfig {
  const statement = t.statementTimeoutMs > 0;
  return {
    connectionString,
    max,
    // Covers both the TCP/startup handshake and waiting for a pooled connection.
    connectionTimeoutMillis: t.connectTimeoutMs,
    ...(statement ? { statement_timeout: t.statementTimeoutMs, query_timeout: t.statementTimeoutMs + CLIENT_DEADLINE_MARGIN_MS } : {}),
    // Dead peers on idle connections are eventually noticed by the kernel, not only on next use.
    keepAlive: true,
    Client: DeadlineClient as unknown as pg.PoolConfig['Client'],
  };
}
