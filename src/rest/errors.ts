/**
 * Twilio's error JSON: `{code, message, more_info, status}` (docs/twilio-verify-v2-totp.md §8).
 * Never string `type`/`title` keys: twilio-node would then read the body as RFC 9457 and throw
 * TwilioServiceException instead of RestException.
 */
import { VerityError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import { unavailableOrSelf } from '../infra/unavailable.ts';

export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

/** RFC 9110 §11.6.1: a 401 names the scheme to use (Basic AccountSid:AuthToken, as Twilio). */
export const WWW_AUTHENTICATE = 'Basic realm="Verity"';

export function twilioError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  const body: TwilioErrorBody = { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
  return Response.json(body, { status, headers });
}

/** Service field paths (`config.codeLength`, `secret`, `first`) → the Twilio parameter a client sent. */
const SPECIAL_FIELDS: Record<string, string> = {
  secret: 'Binding.Secret',
  first: 'PageSize',
  after: 'PageToken',
};

export function twilioParamName(field: string): string {
  const special = SPECIAL_FIELDS[field];
  if (special) return special;
  const parts = field.split('.').filter((p) => !/^[0-9]+$/.test(p));
  const head = parts[0] ?? field;
  // JSON-typed parameters are one parameter however deep the offending key sits.
  const kept = head === 'metadata' || head === 'hiddenDetails' ? 1 : head === 'details' ? 2 : parts.length;
  return parts
    .slice(0, kept)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('.');
}

/** Domain errors keep their Twilio code and HTTP status; anything unexpected is logged and masked (20500). */
export function toTwilioErrorResponse(error: unknown, logger: Logger): Response {
  error = unavailableOrSelf(error, logger); // database outage → 503 / 20503
  if (error instanceof VerityError) {
    const headers: Record<string, string> = {};
    if (error.extra.retryAfter !== undefined) headers['retry-after'] = String(error.extra.retryAfter);
    if (error.httpStatus === 401) headers['www-authenticate'] = WWW_AUTHENTICATE;
    let message = error.message;
    if (error.code === 'INVALID_ARGUMENT' && error.extra.field) {
      // "Invalid parameter: <Name>" (Twilio 60200), with our reason after it.
      const ours = `Invalid parameter: ${error.extra.field}: `;
      const reason = message.startsWith(ours) ? message.slice(ours.length) : message;
      message = `Invalid parameter: ${twilioParamName(error.extra.field)}: ${reason}`;
    }
    // Errors without a Twilio number (SEED_UNAVAILABLE, 413, 415) use Twilio's generic 20xxx scheme.
    return twilioError(error.httpStatus, error.twilioCode ?? 20000 + error.httpStatus, message, headers);
  }
  logger.error({ err: error }, 'unexpected error (REST)');
  return twilioError(500, 20500, 'Internal Server Error');
}
