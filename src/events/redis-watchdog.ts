import { pingRedis, type RedisClient } from '../redis.ts';

/**
 * Reconnects an ioredis client whose link went silent. A refused or reset link is noticed by
 * ioredis itself (it reconnects, and resubscribes a subscriber); a silent one — a partition, or a
 * NAT/firewall that forgot the flow when the network healed — looks "ready" forever: commands
 * only time out, and a subscriber just stops receiving. So while the client is ready, a PING every
 * `everyMs` must answer within `timeoutMs`, or the socket is dropped and ioredis reconnects.
 * PING is allowed in subscriber mode. On a cluster every master must answer (a silent one would
 * strand its slots), and the reconnect renews every node link, sharded subscribers included.
 * Returns a stop function.
 */
export function watchRedis(client: RedisClient, opts: { everyMs: number; timeoutMs: number; onSilent: (err: Error) => void }): () => void {
  let busy = false;
  let misses = 0;
  const check = async () => {
    if (busy || client.status !== 'ready') return;
    busy = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ping = pingRedis(client);
      ping.catch(() => {}); // settles after the race when the socket is dropped: nobody left to hear it
      await Promise.race([
        ping,
        new Promise(
          (_, reject) =>
            (timer = setTimeout(() => reject(new Error(`Redis did not answer PING within ${opts.timeoutMs} ms`)), opts.timeoutMs)),
        ),
      ]);
      misses = 0;
    } catch (err) {
      // Two misses in a row: one slow answer (a stalled event loop, a busy Redis) is not a dead link,
      // and reconnecting a worker's connection mid-job costs that job its lock.
      if (client.status === 'ready' && ++misses >= 2) {
        misses = 0;
        opts.onSilent(err instanceof Error ? err : new Error(String(err)));
        client.disconnect(true); // reconnect (and resubscribe) on a fresh socket
      }
    } finally {
      clearTimeout(timer);
      busy = false;
    }
  };
  const interval = setInterval(() => void check(), opts.everyMs).unref(); // no reason to keep a process alive
  return () => clearInterval(interval);
}

/**
 * Watchdog timing from VERITY_REDIS_COMMAND_TIMEOUT_MS: a PING every max(2 s, 4×) that must answer
 * within max(1 s, 2×); two misses in a row reconnect. Default (1 s): a silent link is replaced
 * within about 12 s.
 */
export const watchdogTiming = (commandTimeoutMs: number) => ({
  everyMs: Math.max(2_000, 4 * commandTimeoutMs),
  timeoutMs: Math.max(1_000, 2 * commandTimeoutMs),
});
