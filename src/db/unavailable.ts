/**
 * Recognises the errors that mean "the database did not answer" (refused, reset, timed out,
 * shutting down) as opposed to a bug or a bad query, so callers can answer 503 instead of a
 * masked 500. Prisma reports them in three shapes: its own P1xxx codes, a driver adapter error
 * kind in `meta.driverAdapterError.cause`, and — for errors @prisma/adapter-pg does not convert
 * (pg and pg-pool timeouts) — the plain Error pg threw.
 */

/** Prisma: can't reach server, timed out, operations timed out, server closed the connection, pool timeout. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/** Driver adapter error kinds for connection-level failures (@prisma/driver-adapter-utils). */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/**
 * SQLSTATEs (PostgreSQL Appendix A): 57014 query_canceled (our statement_timeout), 57P01–57P03
 * shutdown / cannot connect now, 53300 too_many_connections, class 08 connection exceptions.
 */
const SQLSTATE = /^(57014|57P0[123]|53300|08...)$/;
/** pg / pg-pool messages for errors the adapter passes through unconverted (pg 8.x). */
const PG_MESSAGES =
  /^(Query read timeout|Connection terminated( unexpectedly| due to connection timeout)?|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable)$/;

/**
 * A socket error (refused, reset, …) of a statement sent to pg directly (src/db/prepared.ts), which
 * Prisma's adapter would have converted to DatabaseNotReachable. Wrapped where it is raised: the
 * same codes from Redis must not read as a database outage.
 */
export class DatabaseConnectionError extends Error {
  override name = 'DatabaseConnectionError';
  constructor(cause: Error & { code?: string }) {
    super(`database connection failed: ${cause.code ?? cause.message}`, { cause });
  }
}

type Loose = {
  code?: unknown;
  message?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown } } };
  cause?: unknown;
};

/** A short, secret-free description when `err` is a database outage; undefined otherwise. */
export function databaseUnavailable(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 3) return undefined;
  const e = err as Loose;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const cause = e.meta?.driverAdapterError?.cause;
  const kind = typeof cause?.kind === 'string' ? cause.kind : undefined;
  const sqlState = typeof cause?.code === 'string' ? cause.code : undefined;
  if (kind && ADAPTER_KINDS.has(kind)) return `${code ?? 'prisma'} ${kind}`;
  if (kind === 'postgres' && sqlState && SQLSTATE.test(sqlState)) return `${code ?? 'prisma'} SQLSTATE ${sqlState}`;
  if (code && PRISMA_CODES.has(code)) return code;
  if (code && SQLSTATE.test(code) && typeof (e as { severity?: unknown }).severity === 'string') return `SQLSTATE ${code}`;
  if (err instanceof Error && PG_MESSAGES.test(err.message)) return err.message;
  if (err instanceof DatabaseConnectionError) return err.message;
  return databaseUnavailable(e.cause, depth + 1);
}
