/**
 * Rate limits (docs/security.md "Rate limits"): a per-account bucket on every authenticated operation, and a
 * stricter limit on failed authentications per client address (src/auth/failed-auth.ts). Redis-backed when
 * REDIS_URL is set, so every instance sharing the prefix enforces one limit; in memory otherwise.
 *
 * These are volume limits on the API surface. The per-factor guessing throttle is something else
 * and stays in the database (docs/security.md "Guessing throttle"): it must be atomic with the challenge.
 */
import { once } from 'node:events';
import { openRedis, type RedisClient } from '../redis.ts';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { LimitsConfig } from '../config.ts';
import { RateLimitedError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import type { RateLimits } from '../deps.ts';
import { failedAuthBudget } from '../auth/failed-auth.ts';

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createRateLimits(opts: {
  limits: LimitsConfig;
  redisUrl?: string;
  /** `redisUrl` lists Redis Cluster seed nodes (each limiter key is one command on one slot: no hash tag needed). */
  redisCluster?: boolean;
  redisPrefix: string;
  logger: Logger;
  commandTimeoutMs?: number;
}): RateLimits {
  const { limits, logger } = opts;
  let redis: RedisClient | undefined;
  if (opts.redisUrl && (limits.accountPerSecond > 0 || limits.identityPerSecond > 0 || limits.authFailures > 0)) {
    // Fails fast while Redis is away (no offline queue) or silent (command timeout): the limiter then fails open, below.
    // Auto-pipelining: concurrent requests' commands issued in one tick leave in one write (the failed-auth GET on every request).
    redis = openRedis(
      { url: opts.redisUrl, cluster: opts.redisCluster },
      {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        disconnectTimeout: 200,
        commandTimeout: opts.commandTimeoutMs,
        enableAutoPipelining: true,
      },
    );
    redis.on('error', (err) => logger.debug({ err }, 'rate-limit redis error'));
  }
  const make = (name: string, points: number, duration: number): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `${opts.redisPrefix}:rl:${name}`,
          points,
          duration,
          rejectIfRedisNotReady: true,
        })
      : new RateLimiterMemory({ keyPrefix: `rl:${name}`, points, duration });

  let account: Pick<RateLimiterAbstract, 'consume'> | undefined;
  if (limits.accountPerSecond > 0) {
    const steady = make('account', limits.accountPerSecond, 1);
    account =
      limits.accountBurst > 0
        ? new BurstyRateLimiter(steady, make('account-burst', limits.accountBurst, limits.accountBurstWindowS))
        : steady;
  }
  const identity: RateLimiterAbstract | undefined =
    limits.identityPerSecond > 0 ? make('identity', limits.identityPerSecond, 1) : undefined;

  /** A store outage must not take the API down with it: allow, and say so in the log. */
  const storeDown = (err: unknown, what: string) => logger.warn({ err }, `rate limit store unavailable (${what}): request allowed`);

  /** One token from `bucket` for `key`; over it → 429 (the steady bucket and a burst allowance alike), store down → allowed. */
  const spend = async (bucket: Pick<RateLimiterAbstract, 'consume'> | undefined, key: string, what: string, whom: string) => {
    if (!bucket) return;
    try {
      await bucket.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes)
        throw new RateLimitedError(`Too many requests for ${whom}: retry later`, seconds(err.msBeforeNext));
      storeDown(err, what);
    }
  };

  return {
    async admit(principal) {
      if (principal.kind === 'access') {
        // An access token sits in an end user's browser: one end user (or a script holding their
        // token) must not spend the whole account's budget, so each identity has its own bucket first.
        await spend(identity, `${principal.accountSid}:${principal.serviceSid}:${principal.identity}`, 'identity', 'this end user');
      }
      // Account credentials and the account's access tokens share the account's bucket ("all operations").
      if (principal.kind === 'account' || principal.kind === 'access')
        await spend(account, principal.accountSid, 'account', 'this account');
    },
    authFailures: failedAuthBudget({
      limiter: limits.authFailures > 0 ? make('auth-fail', limits.authFailures, limits.authWindowS) : undefined,
      redis,
      limit: limits.authFailures,
      onStoreError: storeDown,
    }),
    async ready() {
      if (redis && redis.status !== 'ready') await once(redis, 'ready');
    },
    async close() {
      redis?.disconnect();
    },
  };
}
