import { describe, expect, it } from 'vitest';
import { DatabaseConnectionError, databaseUnavailable } from './unavailable.ts';

// Shapes recorded from Prisma 7.10 + @prisma/adapter-pg + pg 8 against a cut link
// (test/outage.postgres.test.ts produces them for real in PostgreSQL mode).
const prismaError = (code: string, cause: Record<string, unknown>) =>
  Object.assign(new Error('Invalid `prisma.account.count()` invocation'), {
    code,
    meta: { driverAdapterError: { name: 'DriverAdapterError', cause } },
  });

describe('databaseUnavailable', () => {
  it('recognises refused, reset and timed-out connections in each shape Prisma reports them', () => {
    expect(databaseUnavailable(prismaError('P1001', { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 5432 }))).toBe(
      'P1001 DatabaseNotReachable',
    );
    expect(databaseUnavailable(prismaError('P1017', { kind: 'ConnectionClosed' }))).toBe('P1017 ConnectionClosed');
    expect(databaseUnavailable(prismaError('P2010', { kind: 'DatabaseNotReachable' }))).toBe('P2010 DatabaseNotReachable'); // $queryRaw
    expect(databaseUnavailable(prismaError('P2010', { kind: 'postgres', code: '57014' }))).toBe('P2010 SQLSTATE 57014'); // statement_timeout
    expect(databaseUnavailable(prismaError('P2010', { kind: 'postgres', code: '57P01' }))).toBe('P2010 SQLSTATE 57P01'); // admin shutdown
    expect(databaseUnavailable(new Error('Query read timeout'))).toBe('Query read timeout');
    expect(databaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBeDefined();
    expect(
      databaseUnavailable(
        new Error('Connection terminated due to connection timeout', { cause: new Error('Connection terminated unexpectedly') }),
      ),
    ).toBeDefined();
    expect(
      databaseUnavailable(Object.assign(new Error('Timed out fetching a new connection from the connection pool'), { code: 'P2024' })),
    ).toBe('P2024');
    // The hot path's statements go to pg directly (src/db/prepared.ts), which wraps socket errors.
    expect(
      databaseUnavailable(
        new DatabaseConnectionError(
          Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', syscall: 'connect' }),
        ),
      ),
    ).toBe('database connection failed: ECONNREFUSED');
  });

  it('leaves bugs and bad data alone: those stay masked 500s or domain errors', () => {
    expect(databaseUnavailable(prismaError('P2010', { kind: 'postgres', code: '42P01' }))).toBeUndefined(); // undefined table
    expect(databaseUnavailable(prismaError('P2002', { kind: 'UniqueConstraintViolation' }))).toBeUndefined();
    expect(databaseUnavailable(new Error('Connection terminated by a bug somewhere'))).toBeUndefined();
    expect(databaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBeUndefined(); // Redis, not the database
    expect(databaseUnavailable(undefined)).toBeUndefined();
  });
});
