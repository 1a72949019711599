/**
 * Rate limits (issue #8 item 2, README "Limits"): a per-account bucket on every authenticated
 * operation, and a stricter limit on failed authentications per client address. Redis-backed when
 * REDIS_URL is set, so every instance sharing the prefix enforces one limit; in memory otherwise.
 *
 * These are volume limits on the API surface. The per-factor guessing throttle is something else
 * and stays in the database (README "Guessing throttle"): it must be atomic with the challenge.
 */
import { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { LimitsConfig } from '../config.ts';
import { RateLimitedError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import { authenticate } from '../services/accounts.ts';
import type { Deps, Principal } from '../services/context.ts';

export interface RateLimits {
  /**
   * Authenticates an Authorization header for a request from `address`, enforcing both limits:
   * an address over its failed-authentication budget is refused before its credentials are even
   * looked at; an account over its bucket is refused after. Throws RateLimitedError (429).
   */
  authenticate(deps: Deps, header: string | null | undefined, address: string): Promise<Principal>;
  close(): Promise<void>;
}


const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createRateLimits(opts: { limits: LimitsConfig; redisUrl?: string; redisPrefix: string; logger: Logger; commandTimeoutMs?: number }): RateLimits {
  const { limits, logger } = opts;
  let redis: Redis | undefined;
  if (opts.redisUrl && (limits.accountPerSecond > 0 || limits.identityPerSecond > 0 || limits.authFailures > 0)) {
    // Fails fast while Redis is away (no offline queue) or silent (command timeout): the limiter then fails open, below.
    // Auto-pipelining: concurrent requests' commands issued in one tick leave in one write (failuresOf's GET, below, on every request).
    redis = new Redis(opts.redisUrl, {
      enableOfflineQueue: false, maxRetriesPerRequest: 1, disconnectTimeout: 200, commandTimeout: opts.commandTimeoutMs, enableAutoPipelining: true,
    });
    redis.on('error', (err) => logger.debug({ err }, 'rate-limit redis error'));
  }
  const make = (name: string, points: number, duration: number): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `${opts.redisPrefix}:rl:${name}`, points, duration, rejectIfRedisNotReady: true })
      : new RateLimiterMemory({ keyPrefix: `rl:${name}`, points, duration });

  let account: Pick<RateLimiterAbstract, 'consume'> | undefined;
  if (limits.accountPerSecond > 0) {
    const steady = make('account', limits.accountPerSecond, 1);
    account = limits.accountBurst > 0 ? new BurstyRateLimiter(steady, make('account-burst', limits.accountBurst, limits.accountBurstWindowS)) : steady;
  }
  const identity: RateLimiterAbstract | undefined = limits.identityPerSecond > 0 ? make('identity', limits.identityPerSecond, 1) : undefined;
  const authFailures: RateLimiterAbstract | undefined = limits.authFailures > 0 ? make('auth-fail', limits.authFailures, limits.authWindowS) : undefined;

  /**
   * An address's failed authentications in this window. Every authenticated request asks, so on
   * Redis it is one plain GET of the limiter's own key (the count its consume script INCRBYs):
   * auto-pipelined with concurrent requests' GETs into one write, where the limiter's get() is a
   * MULTI/GET/PTTL/EXEC of its own. The window's remaining time is only read for a refusal.
   */
  const failuresOf = async (address: string): Promise<{ consumedPoints: number; msBeforeNext: number } | null> => {
    if (!authFailures) return null;
    if (!redis) return authFailures.get(address);
    const key = authFailures.getKey(address);
    const points = await redis.get(key);
    if (points === null) return null;
    const consumedPoints = Number(points);
    return { consumedPoints, msBeforeNext: consumedPoints >= limits.authFailures ? Math.max(0, await redis.pttl(key)) : 0 };
  };

  /** A store outage must not take the API down with it: allow, and say so in the log. */
  const failOpen = (what: string) => (err: unknown) => {
    if (err instanceof RateLimiterRes) throw err;
    logger.warn({ err }, `rate limit store unavailable (${what}): request allowed`);
    return null;
  };

  /** One token from `bucket` for `key`; over it → 429 (the steady bucket and a burst allowance alike), store down → allowed. */
  const spend = async (bucket: Pick<RateLimiterAbstract, 'consume'> | undefined, key: string, what: string, whom: string) => {
    if (!bucket) return;
    try {
      await bucket.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(`Too many requests for ${whom}: retry later`, seconds(err.msBeforeNext));
      failOpen(what)(err);
    }
  };

  return {
    async authenticate(deps, header, address) {
      if (authFailures && header) {
        const seen = await failuresOf(address).catch(failOpen('auth failures'));
        // Guessing auth tokens: past the budget the address is refused whatever it presents, so a
        // right token cannot be told from a wrong one until the window ends.
        if (seen && seen.consumedPoints >= limits.authFailures) {
          throw new RateLimitedError('Too many failed authentications from this address: retry later', seconds(seen.msBeforeNext));
        }
      }
      const principal = await authenticate(deps, header);
      if (principal.kind === 'anonymous') {
        if (authFailures && header) await authFailures.consume(address).catch(() => null); // over budget: refused from the next request on
        return principal;
      }
      if (principal.kind === 'access') {
        // An access token sits in an end user's browser: one end user (or a script holding their
        // token) must not spend the whole account's budget, so each identity has its own bucket first.
        await spend(identity, `${principal.accountSid}:${principal.serviceSid}:${principal.identity}`, 'identity', 'this end user');
      }
      // Account credentials and the account's access tokens share the account's bucket ("all operations").
      if (principal.kind === 'account' || principal.kind === 'access') await spend(account, principal.accountSid, 'account', 'this account');
      return principal;
    },
    async close() {
      redis?.disconnect();
    },
  };
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
const normalize = (a: string) => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a).trim();

/**
 * The client's address: the socket's peer, or — behind `hops` trusted proxies that each append
 * the address they saw to X-Forwarded-For — the entry `hops` places from the right of the chain.
 * Entries further left are whatever the client wrote and are never trusted. In-process requests
 * (tests calling app.fetch) have no socket: they count as one address, "local".
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | null | undefined, hops: number): string {
  const chain = hops > 0 && forwardedFor ? forwardedFor.split(',').map((s) => s.trim()).filter(Boolean) : [];
  chain.push(socketAddress ?? 'local');
  return normalize(chain[Math.max(0, chain.length - 1 - hops)]!);
}
