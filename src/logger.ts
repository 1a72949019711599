import { pino, type DestinationStream, type Logger } from 'pino';
import { logContextFields } from './observability/log-context.ts';

export type { Logger };

/**
 * Keys censored as defence in depth: code never logs these (DESIGN.md "Secrets"), but an error
 * object or a future log call might carry one. At the top level pino's `redact` paths censor them
 * (plus `body`); one to three levels down a single pass over plain objects does
 * (`censorNested`) — pino's `*.key` wildcards cost ≈ 80 µs a line for this many keys, the pass ≈ 1 µs.
 * `code` is censored where it can be a TOTP code: any value under `input`/`params`/`variables`, and
 * a string of digits anywhere. Other codes are worth keeping: `err.code` (Prisma's P2002,
 * ECONNREFUSED), a WebSocket close code (RFC 6455 §7.4), an HTTP status.
 */
export const SECRET_KEYS = [
  'authorization',
  'cookie',
  'token',
  'authToken',
  'accessToken',
  'adminToken',
  'metricsToken',
  'secret',
  'seed',
  'binding',
  'password',
  'signingSecret',
  'authPayload',
  'credential',
  'variables',
  'connectionParams',
  'x-twilio-signature',
  'webhook-signature',
];
export const REDACT_PATHS = [...SECRET_KEYS.map((k) => `["${k}"]`), 'Authorization', 'body'];
const CENSOR = '[redacted]';
const secretKey = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));
const codeParents = new Set(['input', 'params', 'variables']);
// A TOTP code is 6–8 digits (RFC 6238 §5.3, RFC 4226 §5.3); Twilio accepts 3–8 (AuthPayload).
const digitString = (v: unknown) => typeof v === 'string' && /^\s*\d{3,10}\s*$/.test(v);
const codeSecret = (key: string, value: unknown, parentKey: string) => key === 'code' && (codeParents.has(parentKey) || digitString(value));

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** A copy of `v` with secret keys censored down to `depth` levels; `v` itself when nothing matched. */
function censor(v: unknown, depth: number, parentKey: string): unknown {
  if (depth === 0) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    v.forEach((item, i) => {
      const c = censor(item, depth - 1, parentKey);
      if (c !== item) (out ??= [...v])[i] = c;
    });
    return out ?? v;
  }
  if (!isPlain(v)) return v;
  let out: Record<string, unknown> | undefined;
  for (const [k, item] of Object.entries(v)) {
    const lower = k.toLowerCase();
    const c = secretKey.has(lower) || codeSecret(lower, item, parentKey) ? CENSOR : censor(item, depth - 1, lower);
    if (c !== item) (out ??= { ...v })[k] = c;
  }
  return out ?? v;
}

/** pino `formatters.log`: the top level is pino redact's; this covers the nested levels. */
export function censorNested(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(obj)) {
    const c = codeSecret(k.toLowerCase(), v, '') ? CENSOR : censor(v, 3, k.toLowerCase());
    if (c !== v) (out ??= { ...obj })[k] = c;
  }
  return out ?? obj;
}

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
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      formatters: { log: censorNested },
    },
    destination,
  );
}
