import type { Redis } from 'ioredis';
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { watchRedis, watchdogTiming } from './redis-watchdog.ts';
import { openRedis, pingRedis, type RedisClient, type RedisTarget } from '../redis.ts';

/**
 * A status change, published after its transaction commits (never for a rolled-back change).
 * Carries SIDs (and, for a deleted factor, its public fields): never a seed or a token.
 * Subscribers re-read the resource, scoped to their own account.
 */
export interface ChallengeEvent {
  type: 'challenge.created' | 'challenge.approved' | 'challenge.denied' | 'challenge.expired';
  accountSid: string;
  serviceSid: string;
  identity: string;
  factorSid: string;
  challengeSid: string;
}

export interface FactorEvent {
  type: 'factor.created' | 'factor.verified' | 'factor.updated' | 'factor.deleted';
  accountSid: string;
  serviceSid: string;
  identity: string;
  factorSid: string;
  /** factor.deleted only: the last public state, since there is nothing left to re-read. */
  snapshot?: Record<string, unknown>;
}

/** An entity's recovery codes changed (a Verity extension): a new set, or one code redeemed. Never the codes. */
export interface EntityEvent {
  type: 'entity.recovery_codes.generated' | 'entity.recovery_code.redeemed';
  accountSid: string;
  serviceSid: string;
  identity: string;
  entitySid: string;
  /** Unused codes left after the change. */
  recoveryCodesRemaining: number;
}

export type VerityEvent = ChallengeEvent | FactorEvent | EntityEvent;

export interface EventBus {
  /** Never throws: a lost event must not fail the request whose change already committed. */
  publish(event: VerityEvent): Promise<void>;
  /**
   * Every event of one account, as published (on any instance, with Redis). A consumer more than
   * `buffer` events behind loses the oldest ones rather than stalling publishers or growing
   * without bound (a reconciliation burst can publish thousands at once).
   */
  subscribe(accountSid: string, buffer?: number): AsyncIterableIterator<VerityEvent>;
  /** Live subscribe() iterators in this process (metrics; tests await it instead of sleeping). */
  activeSubscriptions(): number;
  /** Throws when the transport (Redis) does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

type Target = EventTarget;

function busOver(target: Target, topicPrefix: string, onError: (err: unknown) => void, extra: Pick<EventBus, 'ping' | 'close'>): EventBus {
  const topic = (accountSid: string) => `${topicPrefix}:events:${accountSid}`;
  let active = 0;
  return {
    activeSubscriptions: () => active,
    async publish(event) {
      try {
        target.dispatchEvent(new CustomEvent(topic(event.accountSid), { detail: event }));
      } catch (err) {
        onError(err);
      }
    },
    subscribe(accountSid, buffer = 10_000) {
      return new Repeater<VerityEvent>(async (push, stop) => {
        const listener = (e: Event) => void push((e as CustomEvent<VerityEvent>).detail).catch(onError);
        target.addEventListener(topic(accountSid), listener);
        active++;
        await stop;
        active--;
        target.removeEventListener(topic(accountSid), listener);
      }, new SlidingBuffer(buffer));
    },
    ...extra,
  };
}

/** In-process pub/sub (embedded mode: one process serves everything). */
export function createLocalEventBus(onError: (err: unknown) => void = () => {}): EventBus {
  return busOver(new EventTarget(), 'verity', onError, { ping: async () => {}, close: async () => {} });
}

/**
 * Redis pub/sub (@graphql-yoga/redis-event-target): an event published by any API instance or
 * worker reaches subscribers on every instance. `prefix` namespaces channels (tests, tenants of Redis).
 *
 * On a Redis Cluster the bus uses sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): a classic PUBLISH
 * is forwarded over the cluster bus to every node, so each node carries every event and adding
 * shards adds no pub/sub capacity; a shard channel lives on the node that owns its slot, and an
 * account's channel (one per account) is published to and subscribed on that node only.
 */
export function createRedisEventBus(
  redis: RedisTarget,
  prefix: string,
  onError: (err: unknown) => void = () => {},
  opts: { commandTimeoutMs?: number } = {},
): EventBus {
  const sharded = redis.cluster === true;
  // Publishing fails fast during an outage (the change is committed; reconciliation and re-reads
  // cover a lost event): no offline queue for a refused link, a command timeout for a silent one
  // (without it a black-holed publish or readiness ping would wait forever).
  // Subscribing waits for Redis to come back; ioredis then resubscribes (autoResubscribe; on a
  // cluster its sharded subscriber group resubscribes each node's channels).
  // Auto-pipelining: the PUBLISHes issued in one tick (a reconciliation batch announces thousands)
  // leave in one write instead of one syscall each.
  const publishClient = openRedis(redis, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: opts.commandTimeoutMs ?? 1_000,
    enableAutoPipelining: true,
  });
  const subscribeClient = openRedis(redis, { maxRetriesPerRequest: null, shardedSubscribers: sharded });
  for (const c of [publishClient, subscribeClient]) c.on('error', (err) => onError(err));
  const timeoutMs = opts.commandTimeoutMs ?? 1_000;
  const stopWatchdogs = [publishClient, subscribeClient].map((c) =>
    watchRedis(c, {
      ...watchdogTiming(timeoutMs),
      onSilent: (err) => onError(new Error(`event bus: silent Redis link, reconnecting: ${err.message}`)),
    }),
  );
  // redis-event-target does not await publish(): catch here, or an outage is an unhandled rejection.
  const publisher = {
    publish: (channel: string, message: string) =>
      (sharded ? publishClient.spublish(channel, message) : publishClient.publish(channel, message)).catch(onError),
  };
  const target = createRedisEventTarget<CustomEvent>({
    publishClient: publisher as unknown as Redis,
    subscribeClient: (sharded ? shardedSubscriber(subscribeClient, onError) : subscribeClient) as unknown as Redis,
  }) as unknown as Target;
  return busOver(target, prefix, onError, {
    ping: () => pingRedis(publishClient),
    close: async () => {
      for (const stop of stopWatchdogs) stop();
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
    },
  });
}

/**
 * The three calls redis-event-target makes on its subscriber, mapped onto sharded pub/sub:
 * SSUBSCRIBE/SUNSUBSCRIBE, and 'smessage' events for 'message'.
 */
function shardedSubscriber(client: RedisClient, onError: (err: unknown) => void) {
  return {
    on(event: 'message', listener: (channel: string, message: string) => void) {
      client.on(event === 'message' ? 'smessage' : event, listener);
      return this;
    },
    subscribe: (channel: string) => client.ssubscribe(channel).catch(onError),
    unsubscribe: (channel: string) => client.sunsubscribe(channel).catch(onError),
  };
}
