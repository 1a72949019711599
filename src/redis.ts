/**
 * Every Redis connection Verity opens (BullMQ, pub/sub, rate limits, readiness) is made here, so
 * one setting switches them all between a single Redis and a Redis Cluster
 * (docs/operations.md "Redis Cluster").
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** Where Redis is: one `redis://` URL, or (cluster) comma-separated `redis://host:port` seed nodes. */
export interface RedisTarget {
  url: string;
  cluster?: boolean;
}

/**
 * Per-connection options, the same in both modes. In cluster mode `enableOfflineQueue` and
 * `enableAutoPipelining` apply to the Cluster client (a command refused or batched before it is
 * routed to a node), everything else to each node's connection.
 */
export interface OpenRedisOptions extends Pick<
  RedisOptions,
  'enableOfflineQueue' | 'enableAutoPipelining' | 'maxRetriesPerRequest' | 'commandTimeout' | 'disconnectTimeout'
> {
  /**
   * Cluster only: SSUBSCRIBE goes to the node that owns the channel's slot, one subscriber
   * connection per master (ioredis' `shardedSubscribers`).
   */
  shardedSubscribers?: boolean;
}

/** The seed nodes of a cluster REDIS_URL; credentials and TLS (`rediss://`) are taken from the first. */
export function parseSeeds(url: string): { nodes: { host: string; port: number }[]; redisOptions: RedisOptions } {
  const urls = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => new URL(s));
  const first = urls[0];
  if (!first) throw new Error('REDIS_URL lists no Redis Cluster seed node');
  const redisOptions: RedisOptions = {};
  if (first.username) redisOptions.username = decodeURIComponent(first.username);
  if (first.password) redisOptions.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') redisOptions.tls = {};
  // URL keeps brackets around an IPv6 host; net.connect wants the bare address.
  return { nodes: urls.map((u) => ({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 6379) })), redisOptions };
}

/** A single-node `Redis` or a `Cluster` client, with the same options either way. */
export function openRedis(target: RedisTarget, opts: OpenRedisOptions = {}): RedisClient {
  const { shardedSubscribers, enableOfflineQueue, enableAutoPipelining, ...nodeOptions } = opts;
  if (!target.cluster) return new Redis(target.url, { enableOfflineQueue, enableAutoPipelining, ...nodeOptions });
  const { nodes, redisOptions } = parseSeeds(target.url);
  const options: ClusterOptions = {
    // BullMQ reads maxRetriesPerRequest from here for a Cluster (a Worker's must be null).
    redisOptions: { ...redisOptions, ...nodeOptions },
    enableOfflineQueue,
    enableAutoPipelining,
    shardedSubscribers,
  };
  return new Cluster(nodes, options);
}

/**
 * Readiness: a single Redis answers PING; a cluster is ready when every master answers, since
 * a master that does not serves none of its slots (some accounts' events, limits or the queue).
 */
export async function pingRedis(client: RedisClient): Promise<void> {
  if (client instanceof Cluster) {
    const masters = client.nodes('master');
    if (masters.length === 0) throw new Error('Redis Cluster: no master node known');
    await Promise.all(masters.map((n) => n.ping()));
    return;
  }
  await client.ping();
}
