/**
 * /readyz: is this instance able to serve? Each dependency is pinged in parallel under its own
 * deadline, so a black-holed link answers "down" in bounded time instead of hanging the probe.
 *
 * - database down → `unavailable` (HTTP 503): nothing can be served, take the instance out.
 * - Redis down → `degraded` (HTTP 200): verification keeps working (expiry jobs are caught up by
 *   reconciliation, subscribers resubscribe when Redis returns); answering 503 would make a load
 *   balancer pull every instance at once, since they all share the one Redis.
 */
export type CheckState = 'up' | 'down';

export interface Readiness {
  status: 'ready' | 'degraded' | 'unavailable';
  checks: { database: CheckState; redis?: CheckState };
}

export interface ReadinessChecks {
  database: { ping: () => Promise<void>; timeoutMs: number };
  redis?: { ping: () => Promise<void>; timeoutMs: number };
}

async function probe(c: { ping: () => Promise<void>; timeoutMs: number }): Promise<CheckState> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckState>((resolve) => (timer = setTimeout(resolve, c.timeoutMs, 'down')));
  const pinged = c.ping().then(
    () => 'up' as const,
    () => 'down' as const,
  );
  try {
    return await Promise.race([pinged, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(checks: ReadinessChecks): Promise<Readiness> {
  const [database, redis] = await Promise.all([probe(checks.database), checks.redis ? probe(checks.redis) : undefined]);
  const status = database === 'down' ? 'unavailable' : redis === 'down' ? 'degraded' : 'ready';
  return { status, checks: redis ? { database, redis } : { database } };
}
