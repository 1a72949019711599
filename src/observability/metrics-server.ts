import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Config } from '../config.ts';
import type { Metrics } from './metrics.ts';
import type { RateLimits } from '../deps.ts';
import { authorizeMetrics, nodeRequestAddress } from '../auth/index.ts';
import { RateLimitedError } from '../domain/errors.ts';

/**
 * `GET /metrics` on a port of its own, for processes without the HTTP app: `npm run worker` runs
 * the expiry and webhook jobs, so expiry lag and delivery counters are recorded there, not in the
 * API instances. Same credentials as the app's /metrics, and the same per-address failed-auth
 * budget (shared with the API instances through Redis): this port is no place to guess tokens.
 */
export async function serveMetrics(
  deps: { config: Config; metrics: Metrics; rateLimits: RateLimits },
  port: number,
  host?: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404).end();
    authorizeMetrics(deps, req.headers.authorization, nodeRequestAddress(deps, req))
      .then(async (allowed) => {
        if (!allowed) {
          return void res
            .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="verity-metrics"' })
            .end('Unauthorized\n');
        }
        const body = await deps.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(body);
      })
      .catch((err: unknown) => {
        // RFC 6585 §4: an address over its failed-auth budget gets 429 with Retry-After.
        if (err instanceof RateLimitedError) {
          return void res
            .writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(err.extra.retryAfter) })
            .end(`${err.message}\n`);
        }
        res.writeHead(500).end();
      });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
