// Bull Board at /admin/queues: the dashboard BullMQ users already know, over Verity's queue, for
// the operator only. Production mode only (embedded mode has no BullMQ queue) and off without an
// operator token. Read-only: retrying, promoting or cleaning jobs from a page would change job
// state outside the audited API, and nothing needs it (reconciliation re-enqueues what is
// missing; failed jobs are kept for inspection, which the board shows).
// The board (Hono adapter, its ejs template and static files from @bull-board/ui) is loaded on
// the first authorised request only: a process that never serves it never loads it. Hono because
// Yoga hands us a fetch Request and Hono answers one with a Response: no Express, no second server.
import type { Plugin } from 'graphql-yoga';
import type { Queue } from 'bullmq';
import type { AppDeps } from '../deps.ts';
import { authorizeOperatorPage, requestAddress, type RequestAuthState } from '../auth/index.ts';
import { RateLimitedError } from '../domain/errors.ts';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Only what the board needs, only on its paths: its own scripts and styles (the React app sets
 * inline styles), its own images, its JSON API. No framing, no third party (its template links
 * Google Fonts: removed below, and refused here anyway).
 */
const BOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

type Board = (request: Request) => Promise<Response>;

async function loadBoard(queues: Queue[]): Promise<Board> {
  const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }, { serveStatic }, { Hono }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/hono'),
    import('@hono/node-server/serve-static'),
    import('hono'),
  ]);
  const adapter = new HonoAdapter(serveStatic).setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Verity queues' } },
  });
  const app = new Hono().route(QUEUE_BOARD_PATH, adapter.registerPlugin());
  return async (request) => app.fetch(request);
}

export function queueBoard(deps: AppDeps): Plugin {
  let board: Promise<Board> | undefined;
  return {
    async onRequest({ request, url, endResponse, serverContext, fetchAPI }) {
      if (url.pathname !== QUEUE_BOARD_PATH && !url.pathname.startsWith(`${QUEUE_BOARD_PATH}/`)) return;
      const queues = deps.jobs.boardQueues?.();
      // Off: no queue to show (embedded mode) or no operator to show it to. Yoga answers 404.
      if (!queues || !deps.config.adminToken) return;
      const text = (status: number, body: string, headers: Record<string, string> = {}) =>
        endResponse(new fetchAPI.Response(`${body}\n`, { status, headers: { 'content-type': 'text/plain', ...headers } }));
      let allowed: boolean;
      try {
        allowed = await authorizeOperatorPage(
          deps,
          request.headers.get('authorization'),
          requestAddress(deps, request, serverContext as RequestAuthState),
        );
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err;
        // RFC 6585 §4: an address over its failed-auth budget gets 429 with Retry-After.
        return text(429, err.message, { 'retry-after': String(err.extra.retryAfter) });
      }
      // RFC 7617 §2: the Basic challenge makes a browser prompt; the password is the operator token.
      if (!allowed) return text(401, 'Unauthorized', { 'www-authenticate': 'Basic realm="Verity queues", charset="UTF-8"' });
      // Read-only board: its API is reads only, whatever a client sends.
      if (request.method !== 'GET' && request.method !== 'HEAD') return text(405, 'Method not allowed', { allow: 'GET, HEAD' });

      board ??= loadBoard(queues);
      const answer = await (await board)(new Request(request.url, { method: request.method, headers: request.headers }));
      const headers = new fetchAPI.Headers(answer.headers);
      headers.set('content-security-policy', BOARD_CSP);
      headers.set('x-content-type-options', 'nosniff');
      headers.set('referrer-policy', 'no-referrer');
      // Job lists are operator data: never kept by a shared cache.
      headers.set('cache-control', 'no-store');
      let body: BodyInit | null = answer.status === 204 || request.method === 'HEAD' ? null : await answer.arrayBuffer();
      if (body && headers.get('content-type')?.startsWith('text/html')) {
        // Offline: the template's Google Fonts stylesheet would be a request to a third party.
        body = new TextDecoder().decode(body).replace(/<link[^>]+fonts\.googleapis\.com[^>]*>/g, '');
        headers.delete('content-length');
      }
      endResponse(new fetchAPI.Response(body, { status: answer.status, headers }));
    },
  };
}
