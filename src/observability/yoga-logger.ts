import type { Logger } from '../logger.ts';
import type { GraphQLError } from 'graphql';
import { VerityError } from '../domain/errors.ts';
import { withRequestCode } from '../edge/request-errors.ts';

/** Yoga's logger interface (graphql-yoga `logging`). */
export interface YogaLogger {
  debug: (...args: unknown[]) => void;
  info: (...args: unknown[]) => void;
  warn: (...args: unknown[]) => void;
  error: (...args: unknown[]) => void;
}

const originalOf = (e: unknown): unknown => {
  let o = e;
  while (o instanceof Error && o.name === 'GraphQLError' && (o as { originalError?: unknown }).originalError) {
    o = (o as { originalError?: unknown }).originalError;
  }
  return o;
};

const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof Error && e.name === 'GraphQLError';

/**
 * Yoga logs every error its maskError replaced at `error`, stack and all — including the expected
 * ones a client caused (UNAUTHENTICATED, NOT_FOUND, a bad document or bad variables). Those are
 * results, not faults: they go to debug with their stable code only — never the message, which for
 * a variable of the wrong type quotes the value sent (a code, a whole seed). Unexpected errors keep
 * `error` (server.ts logs them too).
 */
export function yogaLogger(logger: Logger): YogaLogger {
  const forward =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      if (args.length === 1 && args[0] instanceof Error) return logger[level]({ err: args[0] }, args[0].message);
      if (args.length === 1) return logger[level](String(args[0]));
      return logger[level]({ args }, 'yoga');
    };
  const error = forward('error');
  return {
    debug: forward('debug'),
    info: forward('info'),
    warn: forward('warn'),
    error: (...args) => {
      const o = originalOf(args[0]);
      if (args.length === 1 && o instanceof VerityError) return logger.debug({ errorCode: o.code }, 'client error');
      const request = args.length === 1 && isGraphQLError(args[0]) ? withRequestCode(args[0]) : null;
      if (request) return logger.debug({ errorCode: request.extensions.code }, 'client error');
      error(...args);
    },
  };
}
