/**
 * The error catalogue (docs/api-contract.md "Errors"). Every error a client can see is one of these classes:
 * a stable `code`, Twilio's error number and the HTTP status Twilio answers with.
 * A wrong TOTP code is never an error: it is a result.
 */
export class VerityError extends Error {
  constructor(
    readonly code: string,
    readonly twilioCode: number | undefined,
    readonly httpStatus: number,
    message: string,
    readonly extra: { field?: string; retryAfter?: number } = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnauthenticatedError extends VerityError {
  constructor(message = 'Authentication required: use Basic AccountSid:AuthToken') {
    super('UNAUTHENTICATED', 20003, 401, message);
  }
}

export class ForbiddenError extends VerityError {
  constructor(message = 'These credentials may not perform this operation') {
    super('FORBIDDEN', 20403, 403, message);
  }
}

/** Twilio uses a specific code per resource (60390 factor, 60391 challenge, 60392 entity). */
const NOT_FOUND_CODES = {
  Service: 20404,
  Entity: 60392,
  Factor: 60390,
  Challenge: 60391,
  Account: 20404,
  Webhook: 20404,
  WebhookDelivery: 20404,
} as const;
export type ResourceName = keyof typeof NOT_FOUND_CODES;

export class NotFoundError extends VerityError {
  constructor(
    readonly resource: ResourceName,
    sid: string,
  ) {
    super('NOT_FOUND', NOT_FOUND_CODES[resource], 404, `${resource} ${sid} not found`);
  }
}

export class InvalidArgumentError extends VerityError {
  constructor(field: string, message: string) {
    super('INVALID_ARGUMENT', 60200, 400, `Invalid parameter: ${field}: ${message}`, { field });
  }
}

export class ConflictError extends VerityError {
  /** twilioCode: 60317 for a duplicate factor; none for other duplicates (Twilio documents none). */
  constructor(message: string, twilioCode?: number) {
    super('CONFLICT', twilioCode, 409, message);
  }
}

export class FactorLimitReachedError extends VerityError {
  constructor(limit: number) {
    super('FACTOR_LIMIT_REACHED', 60315, 400, `An entity may have at most ${limit} TOTP factors`);
  }
}

export class FactorNotVerifiedError extends VerityError {
  constructor() {
    super('FACTOR_NOT_VERIFIED', 60318, 403, 'Factor is unverified: verify it before creating challenges');
  }
}

export class ChallengeAlreadyRespondedError extends VerityError {
  constructor() {
    super('CHALLENGE_ALREADY_RESPONDED', 60322, 403, 'Challenge already responded');
  }
}

export class ChallengeExpiredError extends VerityError {
  constructor() {
    super('CHALLENGE_EXPIRED', 60323, 403, 'Challenge expired');
  }
}

/** 60308 (challenge attempts), 60310 (factor verification attempts), 60326 (rate limits). */
export class TooManyAttemptsError extends VerityError {
  constructor(twilioCode: 60308 | 60310 | 60326, message: string, retryAfter?: number) {
    super('TOO_MANY_ATTEMPTS', twilioCode, 429, message, retryAfter === undefined ? {} : { retryAfter });
  }
}

/** A seed that cannot be decrypted with the configured keys: fail loudly, never accept a code. */
export class SeedUnavailableError extends VerityError {
  constructor(keyId: string) {
    super(
      'SEED_UNAVAILABLE',
      undefined,
      500,
      `This factor's secret cannot be decrypted with the configured keys (key id "${keyId}"): check VERITY_ENCRYPTION_KEYS`,
    );
  }
}

/**
 * A rate limit (per account, or failed authentications per client address): HTTP 429 with
 * Retry-After, Twilio's generic 20429 "Too Many Requests". Same stable code as the attempt limits.
 */
export class RateLimitedError extends VerityError {
  constructor(message: string, retryAfter: number) {
    super('TOO_MANY_ATTEMPTS', 20429, 429, message, { retryAfter });
  }
}

/**
 * A dependency the request needs (the database) did not answer in time or refused the connection.
 * Twilio answers 503 / 20503 "Service Unavailable" in the same situation; clients should retry.
 */
export class ServiceUnavailableError extends VerityError {
  constructor(message = 'Service temporarily unavailable: the database is not reachable, retry shortly', retryAfter = 5) {
    super('SERVICE_UNAVAILABLE', 20503, 503, message, { retryAfter });
  }
}
