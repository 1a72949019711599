import { pino, type DestinationStream, type Logger } from 'pino';
import { logContextFields } from './observability/log-context.ts';

export type { Logger };

/**
 * Paths pino censors, as defence in depth: code never logs these (DESIGN.md "Secrets"), but an
 * error object or a future log call might carry one. pino's wildcards match one level, so each
 * key is listed at the top level and one level down. `code` is censored only at the top level
 * and in inputs: `err.code` (Prisma's P2002, ECONNREFUSED) is worth keeping.
 */
const SECRET_KEYS = [
  'authorization', 'Authorization', 'cookie', 'token', 'authToken', 'accessToken', 'adminToken', 'metricsToken',
  'secret', 'seed', 'binding', 'password', 'signingSecret', 'authPayload', 'credential', 'variables', 'connectionParams',
];
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'code', 'input.code', 'input.authPayload', 'params.authPayload', 'body',
  '*.headers.authorization', '*.headers.cookie', '*.headers["x-twilio-signature"]', '*.headers["webhook-signature"]',
  '*.*.headers.authorization', '*.*.headers.cookie',
];

/**
 * Structured JSON logs. Every line written inside a request, job or WebSocket operation carries
 * its `reqId` (and accountSid, operation, jobId once known) through the log context's mixin.
 * `destination` lets tests capture lines; production writes to stdout.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      mixin: logContextFields,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}
