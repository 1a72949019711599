import { z } from 'zod';
import { RESYNC_WINDOW } from './domain/resync.ts';

/** VERITY_DB_CONNECT_TIMEOUT_MS / VERITY_DB_STATEMENT_TIMEOUT_MS defaults, also openDatabase's when no config is passed. */
export const DEFAULT_PG_TIMEOUTS = { connectTimeoutMs: 3_000, statementTimeoutMs: 5_000 } as const;

/** The VERITY_HTTP_* and VERITY_MAX_STREAMS_* defaults, also listen()'s when the app registered none. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 20_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 4_096,
  maxStreamsPerAddress: 100,
  maxStreamsPerAccount: 1_000,
};

/** One Redis Cluster seed node: scheme, optional credentials, host (or [IPv6]) and port, nothing after. */
const SEED_NODE = /^rediss?:\/\/([^@/]*@)?(\[[0-9a-fA-F:.]+\]|[^:/@[\],]+):[0-9]{1,5}\/?$/;

/** Every environment variable Verity reads (docs/api-contract.md "Environment"), parsed once. */
const envSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(4000),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
      .optional(),
    VERITY_DATA_DIR: z.string().min(1).default('.verity'),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    VERITY_REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
      .default('verity'),
    VERITY_REDIS_CLUSTER: z.enum(['true', 'false']).default('false'),
    VERITY_ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    VERITY_METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    VERITY_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    VERITY_ENCRYPTION_KEYS: z.string().min(1).optional(),
    VERITY_PUBLIC_URL: z.url().optional(),
    VERITY_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
    VERITY_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(5_000),
    VERITY_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
    VERITY_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(1).max(3_600_000).default(2_000),
    VERITY_RUN_WORKERS: z.enum(['true', 'false']).optional(),
    VERITY_RESYNC_WINDOW_STEPS: z.coerce.number().int().min(RESYNC_WINDOW.min).max(RESYNC_WINDOW.max).default(RESYNC_WINDOW.default),
    VERITY_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(15_000),
    VERITY_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(90),
    VERITY_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(100),
    VERITY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(102_400),
    // Connection limits (docs/security.md "Connections"); for the caps 0 turns a limit off.
    VERITY_HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(DEFAULT_CONNECTION_LIMITS.headersTimeoutMs),
    VERITY_HTTP_BODY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(DEFAULT_CONNECTION_LIMITS.bodyTimeoutMs),
    VERITY_HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs),
    VERITY_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(0).default(DEFAULT_CONNECTION_LIMITS.maxConnections),
    VERITY_MAX_STREAMS_PER_ADDRESS: z.coerce.number().int().min(0).default(DEFAULT_CONNECTION_LIMITS.maxStreamsPerAddress),
    VERITY_MAX_STREAMS_PER_ACCOUNT: z.coerce.number().int().min(0).default(DEFAULT_CONNECTION_LIMITS.maxStreamsPerAccount),
    // Abuse limits (docs/operations.md "Limits"); 0 turns a limit off.
    NODE_ENV: z.string().optional(),
    VERITY_GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(0).default(15),
    VERITY_GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).default(15),
    VERITY_GRAPHQL_MAX_DIRECTIVES: z.coerce.number().int().min(0).default(50),
    VERITY_GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(0).default(1_000),
    VERITY_GRAPHQL_MAX_COST: z.coerce.number().int().min(0).default(100_000),
    VERITY_GRAPHQL_HEAVY_COST: z.coerce.number().int().min(1).default(10_000),
    VERITY_GRAPHQL_HEAVY_PER_ACCOUNT: z.coerce.number().int().min(0).default(2),
    VERITY_GRAPHQL_FIELD_SUGGESTIONS: z.enum(['true', 'false']).optional(),
    VERITY_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
    VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: z.coerce.number().int().min(0).default(100),
    VERITY_RATE_LIMIT_ACCOUNT_BURST: z.coerce.number().int().min(0).default(1_000),
    VERITY_RATE_LIMIT_ACCOUNT_BURST_WINDOW_S: z.coerce.number().int().min(1).max(86_400).default(10),
    VERITY_RATE_LIMIT_IDENTITY_PER_SECOND: z.coerce.number().int().min(0).default(10),
    VERITY_RATE_LIMIT_AUTH_FAILURES: z.coerce.number().int().min(0).default(10),
    VERITY_RATE_LIMIT_AUTH_WINDOW_S: z.coerce.number().int().min(1).max(86_400).default(300),
    VERITY_TRUST_PROXY: z
      .string()
      .regex(/^(true|false|[0-9]{1,2})$/, 'true, false or a number of proxy hops')
      .default('false'),
    VERITY_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(50).max(120_000).default(DEFAULT_PG_TIMEOUTS.connectTimeoutMs),
    VERITY_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(50).max(600_000).default(DEFAULT_PG_TIMEOUTS.statementTimeoutMs),
    VERITY_DB_PREPARED_STATEMENTS: z.enum(['true', 'false']).default('true'),
    VERITY_REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(1_000),
    VERITY_SEED_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
    VERITY_SEED_CACHE_TTL_S: z.coerce.number().int().min(1).max(3_600).default(300),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  // node:http refuses a headers timeout longer than the whole request's.
  .refine((e) => e.VERITY_HTTP_HEADERS_TIMEOUT_MS <= e.VERITY_HTTP_BODY_TIMEOUT_MS, {
    path: ['VERITY_HTTP_HEADERS_TIMEOUT_MS'],
    message: 'must not exceed VERITY_HTTP_BODY_TIMEOUT_MS',
  })
  // A cluster is reached through seed nodes, each host:port; one Redis through one URL.
  .refine((e) => e.VERITY_REDIS_CLUSTER === 'false' || e.REDIS_URL !== undefined, {
    path: ['VERITY_REDIS_CLUSTER'],
    message: 'needs REDIS_URL (comma-separated redis://host:port seed nodes)',
  })
  .refine((e) => e.VERITY_REDIS_CLUSTER === 'false' || !e.REDIS_URL || e.REDIS_URL.split(',').every((u) => SEED_NODE.test(u.trim())), {
    path: ['REDIS_URL'],
    message: 'with VERITY_REDIS_CLUSTER=true, must be comma-separated redis://host:port or rediss://host:port seed nodes',
  })
  .refine((e) => e.VERITY_REDIS_CLUSTER === 'true' || !e.REDIS_URL?.includes(','), {
    path: ['REDIS_URL'],
    message: 'a comma-separated list of nodes needs VERITY_REDIS_CLUSTER=true',
  });

export interface Config {
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  redisUrl: string | undefined;
  /** Namespace for BullMQ keys and pub/sub channels (several deployments can share one Redis). */
  redisPrefix: string;
  /** REDIS_URL lists a Redis Cluster's seed nodes: ioredis' Cluster client, BullMQ keys under the hash tag `{prefix}`. */
  redisCluster: boolean;
  adminToken: string | undefined;
  /** Bearer token that may read /metrics (besides the operator token); nothing else. */
  metricsToken: string | undefined;
  /** `npm run worker` serves its own /metrics here (jobs record expiry lag and deliveries); unset: none. */
  workerMetricsPort: number | undefined;
  encryptionKeys: string | undefined;
  publicUrl: string;
  /** Lets webhook URLs resolve to loopback/private/link-local addresses (local development, tests). */
  webhookAllowPrivate: boolean;
  /** One delivery attempt (DNS, connect, response) is abandoned after this long. */
  webhookTimeoutMs: number;
  /** Attempts per delivery before it is DEAD (a redelivery starts a new series). */
  webhookMaxAttempts: number;
  /** Exponential backoff base between attempts: base * 2^(n-1), jittered. */
  webhookBackoffMs: number;
  /** Run job workers inside the API process (always in embedded mode). */
  runWorkers: boolean;
  /** Largest request body; also the largest WebSocket message. */
  bodyLimitBytes: number;
  /** Slow-client deadlines and connection caps of the HTTP server (src/edge/connections.ts). */
  connections: ConnectionLimits;
  /** WebSocket subscriptions one connection may hold at once. */
  maxSubscriptionsPerConnection: number;
  /** RFC 6238 §6: resynchronisation searches ± this many time steps around now; observed drift stays within it too. */
  resyncWindowSteps: number;
  /** How often overdue pending challenges are swept (the safety net behind per-challenge jobs). */
  reconcileIntervalMs: number;
  /** The daily purge deletes ended challenges, finished deliveries and audit events older than this many days; 0 keeps everything. */
  retentionDays: number;
  /** PostgreSQL: opening a connection or waiting for a pooled one fails after this long (also bounds /readyz). */
  dbConnectTimeoutMs: number;
  /** PostgreSQL statement_timeout; the client drops a connection silent for this + 500 ms. */
  dbStatementTimeoutMs: number;
  /**
   * The login hot path's statements are named (prepared once per connection); false sends them
   * unnamed, as a transaction-mode pooler needs (PgBouncer before 1.21 lends a server connection per
   * transaction, so a name prepared on one is missing on the next: docs/operations.md "Behind PgBouncer").
   */
  dbPreparedStatements: boolean;
  /** Redis calls made on a request's path (enqueue, publish, readiness ping) give up after this long. */
  redisCommandTimeoutMs: number;
  logLevel: string;
  /** Decrypted seeds kept in process memory for logins: at most `size` factors, each for `ttlS` seconds (0 = off; docs/security.md). */
  seedCache: { size: number; ttlS: number };
  /** GraphQL abuse limits and rate limits (src/edge/graphql-limits.ts, src/edge/rate-limits.ts); 0 = off. */
  limits: LimitsConfig;
  /** Embedded = no DATABASE_URL: PGlite, in-process jobs, in-memory pub/sub. */
  embedded: boolean;
}

export interface ConnectionLimits {
  /** The request line and headers must arrive within this (node:http headersTimeout). */
  headersTimeoutMs: number;
  /** The whole request, headers and body, must arrive within this (node:http requestTimeout); responses are not bounded by it. */
  bodyTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open TCP connections the server accepts at once (node:http maxConnections); 0 = off. */
  maxConnections: number;
  /** Open WebSockets plus SSE streams per client address; 0 = off. */
  maxStreamsPerAddress: number;
  /** Open WebSockets plus SSE streams per account (its auth token and its access tokens); 0 = off. */
  maxStreamsPerAccount: number;
}

export interface LimitsConfig {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  /** Cost of one operation, counted with its variables' values and the default page size (src/edge/graphql-limits.ts). */
  maxCost: number;
  /** An operation costing at least this much is "list-heavy" … */
  heavyCost: number;
  /** … and one account may run this many list-heavy operations at once in one API process (0: no limit). */
  heavyPerAccount: number;
  /** "Did you mean …" in validation errors; off in production (they map the schema for a prober). */
  fieldSuggestions: boolean;
  /** Deadline of one query or mutation's execution. */
  requestTimeoutMs: number;
  /** Per-account requests per second (fixed 1 s windows) … */
  accountPerSecond: number;
  /** … plus this many extra requests per burst window for spikes. */
  accountBurst: number;
  accountBurstWindowS: number;
  /** Per end user (access token: account + service + identity) requests per second, on top of the account's bucket. */
  identityPerSecond: number;
  /** Failed authentications one client address may make per window before it is refused. */
  authFailures: number;
  authWindowS: number;
  /** Proxy hops whose X-Forwarded-For entries are trusted (0: use the socket address only). */
  trustProxyHops: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; reports every problem at once (never a secret's value). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.VERITY_DATA_DIR,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.VERITY_REDIS_PREFIX,
    redisCluster: e.VERITY_REDIS_CLUSTER === 'true',
    adminToken: e.VERITY_ADMIN_TOKEN,
    metricsToken: e.VERITY_METRICS_TOKEN,
    workerMetricsPort: e.VERITY_WORKER_METRICS_PORT,
    encryptionKeys: e.VERITY_ENCRYPTION_KEYS,
    publicUrl: (e.VERITY_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    webhookAllowPrivate: e.VERITY_WEBHOOK_ALLOW_PRIVATE === 'true',
    webhookTimeoutMs: e.VERITY_WEBHOOK_TIMEOUT_MS,
    webhookMaxAttempts: e.VERITY_WEBHOOK_MAX_ATTEMPTS,
    webhookBackoffMs: e.VERITY_WEBHOOK_BACKOFF_MS,
    runWorkers: e.VERITY_RUN_WORKERS ? e.VERITY_RUN_WORKERS === 'true' : !e.REDIS_URL,
    bodyLimitBytes: e.VERITY_BODY_LIMIT_BYTES,
    connections: {
      headersTimeoutMs: e.VERITY_HTTP_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: e.VERITY_HTTP_BODY_TIMEOUT_MS,
      keepAliveTimeoutMs: e.VERITY_HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.VERITY_HTTP_MAX_CONNECTIONS,
      maxStreamsPerAddress: e.VERITY_MAX_STREAMS_PER_ADDRESS,
      maxStreamsPerAccount: e.VERITY_MAX_STREAMS_PER_ACCOUNT,
    },
    maxSubscriptionsPerConnection: e.VERITY_MAX_SUBSCRIPTIONS_PER_CONNECTION,
    resyncWindowSteps: e.VERITY_RESYNC_WINDOW_STEPS,
    reconcileIntervalMs: e.VERITY_RECONCILE_INTERVAL_MS,
    retentionDays: e.VERITY_RETENTION_DAYS,
    dbConnectTimeoutMs: e.VERITY_DB_CONNECT_TIMEOUT_MS,
    dbStatementTimeoutMs: e.VERITY_DB_STATEMENT_TIMEOUT_MS,
    dbPreparedStatements: e.VERITY_DB_PREPARED_STATEMENTS === 'true',
    redisCommandTimeoutMs: e.VERITY_REDIS_COMMAND_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    seedCache: { size: e.VERITY_SEED_CACHE_SIZE, ttlS: e.VERITY_SEED_CACHE_TTL_S },
    limits: {
      maxDepth: e.VERITY_GRAPHQL_MAX_DEPTH,
      maxAliases: e.VERITY_GRAPHQL_MAX_ALIASES,
      maxDirectives: e.VERITY_GRAPHQL_MAX_DIRECTIVES,
      maxTokens: e.VERITY_GRAPHQL_MAX_TOKENS,
      maxCost: e.VERITY_GRAPHQL_MAX_COST,
      heavyCost: e.VERITY_GRAPHQL_HEAVY_COST,
      heavyPerAccount: e.VERITY_GRAPHQL_HEAVY_PER_ACCOUNT,
      fieldSuggestions: e.VERITY_GRAPHQL_FIELD_SUGGESTIONS ? e.VERITY_GRAPHQL_FIELD_SUGGESTIONS === 'true' : e.NODE_ENV !== 'production',
      requestTimeoutMs: e.VERITY_REQUEST_TIMEOUT_MS,
      accountPerSecond: e.VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND,
      accountBurst: e.VERITY_RATE_LIMIT_ACCOUNT_BURST,
      accountBurstWindowS: e.VERITY_RATE_LIMIT_ACCOUNT_BURST_WINDOW_S,
      identityPerSecond: e.VERITY_RATE_LIMIT_IDENTITY_PER_SECOND,
      authFailures: e.VERITY_RATE_LIMIT_AUTH_FAILURES,
      authWindowS: e.VERITY_RATE_LIMIT_AUTH_WINDOW_S,
      trustProxyHops: e.VERITY_TRUST_PROXY === 'true' ? 1 : e.VERITY_TRUST_PROXY === 'false' ? 0 : Number(e.VERITY_TRUST_PROXY),
    },
    embedded: !e.DATABASE_URL,
  };
}
