import type { Config } from './config.ts';
import type { PrismaClient } from './db/client.ts';
import type { AuditLog } from './db/audit-store.ts';
import type { SeedCache } from './services/seed-cache.ts';
import type { Keyring } from './domain/seed-crypto.ts';
import type { Logger } from './logger.ts';
import type { EventBus } from './events/index.ts';
import type { JobEngine } from './jobs/index.ts';
import type { Metrics } from './observability/metrics.ts';
import type { Readiness } from './edge/readiness.ts';

/** Long-lived collaborators every use case may need; built once per process (src/runtime.ts). */
export interface Deps {
  config: Config;
  prisma: PrismaClient;
  logger: Logger;
  /** The clock: every time-dependent rule reads it here, so tests control time. */
  now: () => Date;
  /** Seed encryption keys; never logged, never leave the process. */
  keyring: Keyring;
  /** Status changes, published after commit (subscriptions, webhooks). */
  events: EventBus;
  /** Delayed and repeating jobs (expiry, reconciliation). */
  jobs: JobEngine;
  /** Stable HMAC key for seed fingerprints (duplicate detection without decrypting). */
  fingerprintKey: Uint8Array;
  /** Prometheus counters of this process (one registry per runtime). */
  metrics: Metrics;
  /** What authentication remembers between requests in this process (src/auth/). */
  authCaches: AuthCaches;
  /** Decrypted seeds of recently used factors, bounded in size and age (src/services/seed-cache.ts). */
  seedCache: SeedCache;
  /** This process's audit appends, grouped per account (src/db/audit-store.ts group commit). */
  auditLog: AuditLog;
}

/** The HTTP app's collaborators: a process serving requests (src/server.ts). */
export interface AppDeps extends Deps {
  logger: Logger;
  /** Readiness of the dependencies (database, Redis), each within its deadline (src/edge/readiness.ts). */
  ready: () => Promise<Readiness>;
  /** Per-account buckets and the per-address failed-authentication budget (src/edge/rate-limits.ts). */
  rateLimits: RateLimits;
}

/** Who is calling: resolved once per request by src/auth/, from a header or WebSocket connectionParams. */
export type Principal =
  | AccountPrincipal
  | { kind: 'operator' }
  | AccessPrincipal
  | {
      kind: 'anonymous';
      /** Why credentials were refused, when saying so reveals nothing (e.g. an expired access token). */
      reason?: string;
    };

/** An account's own credentials (HTTP Basic AccountSid:AuthToken). */
export interface AccountPrincipal {
  kind: 'account';
  accountSid: string;
  /**
   * The auth token this request presented (Basic auth, current token only). Needed once, to
   * capture a TWILIO-signing webhook's key (Twilio signs with the raw token; only its hash is
   * stored). Never log, persist in clear or enqueue it.
   */
  credential?: string;
  /**
   * Set when the previous auth token authenticated, in its rotation grace period: when it stops
   * working. Such a credential may read and verify but never manage (src/auth/management.ts).
   */
  graceUntil?: Date;
}

/**
 * A browser's access token (src/auth/access-tokens.ts): acts for one identity of one service
 * until `expiresAt`. `allowedOrigins` is the service's list, read when the token was checked (CORS).
 */
export interface AccessPrincipal {
  kind: 'access';
  accountSid: string;
  serviceSid: string;
  identity: string;
  expiresAt: Date;
  allowedOrigins: readonly string[];
}

/**
 * Rate limits on the API surface (src/edge/rate-limits.ts). Each method throws RateLimitedError
 * (429) when over; a store outage allows the request (logged).
 */
export interface RateLimits {
  /** Spends one token of the caller's buckets: per identity for access tokens, per account for both kinds. */
  admit(principal: Principal): Promise<void>;
  /** The per-address failed-authentication budget every credential check spends (src/auth/). */
  authFailures: FailedAuthBudget;
  /** Resolves once the store can count (Redis connected; at once in memory): until then limits fail open. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface FailedAuthBudget {
  /** Refuses (429) an address past its budget, before its credentials are even looked at. */
  check(address: string): Promise<void>;
  /** Counts one failed authentication against the address. */
  spend(address: string): Promise<void>;
}

/** Per-process caches of authentication, each filled and bounded where it is used (src/auth/). */
export interface AuthCaches {
  /** Successful Basic authentications, by a hash of the header (src/auth/credentials.ts). */
  credentials: Map<string, { principal: Principal; until: number }>;
  /** Access-token signing keys (src/auth/access-tokens.ts). */
  accessKeys: AccessKeyCache;
  /** Allowed origins, per service and their union (src/auth/origins.ts). */
  origins: OriginsCache;
}

export interface AccessKeyCache {
  keys: Map<string, { kid: string; key: CryptoKey; created: Date }>;
  newest?: { kid: string; key: CryptoKey; created: Date };
  loadedAt: number;
  loading?: Promise<void>;
}

export interface OriginsCache {
  services: Map<string, { value: { accountSid: string; allowedOrigins: readonly string[] } | null; until: number }>;
  listed?: { value: ReadonlySet<string>; until: number };
}

export const createAuthCaches = (): AuthCaches => ({
  credentials: new Map(),
  accessKeys: { keys: new Map(), loadedAt: 0 },
  origins: { services: new Map() },
});
