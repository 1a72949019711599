import { ServiceUnavailableError } from '../domain/errors.ts';
import { databaseUnavailable } from '../db/unavailable.ts';
import type { Logger } from '../logger.ts';

/**
 * A database outage becomes ServiceUnavailableError (SERVICE_UNAVAILABLE, HTTP 503, Twilio 20503),
 * logged once as a warning naming the cause (a Prisma code, adapter kind or pg message: never a
 * query's arguments); anything else is returned unchanged.
 */
export function unavailableOrSelf(error: unknown, logger: Logger): unknown {
  const cause = databaseUnavailable(error);
  if (!cause) return error;
  logger.warn({ cause }, 'database unavailable: answering 503 SERVICE_UNAVAILABLE');
  return new ServiceUnavailableError();
}
