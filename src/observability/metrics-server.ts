import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Config } from '../config.ts';
import type { Metrics } from './metrics.ts';
import { canReadMetrics } from '../auth/metrics-token.ts';

/**
 * `GET /metrics` on a port of its own, for processes without the HTTP app: `npm run worker` runs
 * the expiry and webhook jobs, so expiry lag and delivery counters are recorded there, not in the
 * API instances. Same credentials as the app's /metrics.
 */
export async function serveMetrics(deps: { config: Config; metrics: Metrics }, port: number, host?: string): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404).end();
    if (!canReadMetrics(deps.config, req.headers.authorization ?? null)) {
      return void res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="verity-metrics"' }).end('Unauthorized\n');
    }
    deps.metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
