import type { RedisClient } from '../redis.ts';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimitedError } from '../domain/errors.ts';
import type { FailedAuthBudget } from '../deps.ts';

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** An address's failed authentications in the current window, and the window's remaining time. */
type Seen = { consumedPoints: number; msBeforeNext: number };

/**
 * The per-address failed-authentication budget, one per deployment (Redis) or process (memory):
 * every endpoint that checks a credential — GraphQL over HTTP, SSE, REST, WebSocket
 * connection_init, /metrics on either port — spends from the same budget, so a guesser gains
 * nothing by switching endpoints. `limiter` counts failures per address over the window; `redis`,
 * when given, is the client that limiter writes to.
 */
export function failedAuthBudget(opts: {
  limiter: RateLimiterAbstract | undefined;
  redis: RedisClient | undefined;
  limit: number;
  /** A store outage must not take the API down with it: allow, and say so in the log. */
  onStoreError: (err: unknown, what: string) => void;
}): FailedAuthBudget {
  const { limiter, redis, limit } = opts;

  /**
   * An address's failed authentications in this window. Every authenticated request asks, so on
   * Redis it is one plain GET of the limiter's own key (the count its consume script INCRBYs):
   * auto-pipelined with concurrent requests' GETs into one write, where the limiter's get() is a
   * MULTI/GET/PTTL/EXEC of its own. The window's remaining time is only read for a refusal.
   */
  const read = async (address: string): Promise<Seen | null> => {
    const key = limiter!.getKey(address);
    const points = await redis!.get(key);
    if (points === null) return null;
    const consumedPoints = Number(points);
    return { consumedPoints, msBeforeNext: consumedPoints >= limit ? Math.max(0, await redis!.pttl(key)) : 0 };
  };
  /**
   * The read in flight per address: a check that starts while one is on its way shares its answer
   * instead of sending its own GET. That answer is at most one round trip old, no older than the
   * answers concurrent checks got from their own pipelined GETs; a failure this process counts
   * drops the shared read, so the checks after it see that failure.
   */
  const inFlight = new Map<string, Promise<Seen | null>>();
  const failuresOf = (address: string): Promise<Seen | null> | null => {
    if (!limiter) return null;
    if (!redis) return limiter.get(address);
    let pending = inFlight.get(address);
    if (!pending) {
      const p = read(address).finally(() => {
        if (inFlight.get(address) === p) inFlight.delete(address);
      });
      inFlight.set(address, (pending = p));
    }
    return pending;
  };

  return {
    async check(address) {
      if (!limiter) return;
      let seen;
      try {
        seen = await failuresOf(address);
      } catch (err) {
        opts.onStoreError(err, 'auth failures');
        return;
      }
      // Guessing credentials: past the budget the address is refused whatever it presents, so a
      // right token cannot be told from a wrong one until the window ends.
      if (seen && seen.consumedPoints >= limit) {
        throw new RateLimitedError('Too many failed authentications from this address: retry later', seconds(seen.msBeforeNext));
      }
    },
    async spend(address) {
      inFlight.delete(address);
      // Over budget: refused from the next request on (check). A store outage was already logged by check.
      await limiter?.consume(address).catch(() => undefined);
      inFlight.delete(address);
    },
  };
}
