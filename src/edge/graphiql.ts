// GraphiQL at GET /graphql, from the package's own assets (self-hosted installations are often
// offline), with a Content-Security-Policy and no framing. The page is one inline script (the
// GraphiQL bundle, its Monaco workers as strings turned into blob: URLs) and one inline style:
// the script is allowed by its SHA-256 hash (CSP Level 2 §4.2.4), so no other inline or injected
// script runs; it may talk only to this origin, where it sends the credentials typed into it.
import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';

type RenderOptions = Parameters<typeof import('@graphql-yoga/render-graphiql').renderGraphiQL>[0];

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The policy for a rendered page: its inline script by hash; each directive says what GraphiQL needs. */
export function graphiqlCsp(html: string): string {
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => sha256(m[1]!));
  return [
    "default-src 'none'",
    `script-src ${scripts.join(' ')}`,
    // Monaco's language workers are created from blob: URLs of the bundled worker code.
    'worker-src blob:',
    // GraphiQL and Monaco insert style elements and style attributes at run time.
    "style-src 'unsafe-inline'",
    // The favicon and Monaco's codicon font are data: URLs.
    'img-src data:',
    'font-src data:',
    // Queries over HTTP and subscriptions over SSE or WebSocket, to this origin only.
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    // Clickjacking (OWASP "Clickjacking Defense"): a page holding an auth token is never framed.
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * `renderGraphiQL` for Yoga, and the plugin that puts the matching headers on the page. The
 * assets are loaded on the first GraphiQL request, not at start: they are ≈ 30 MB of strings on
 * the heap of every API process, most of which never serve a browser (bench/RESULTS.md "Memory").
 */
export function graphiqlPage(endpoint: string): { render: (opts: RenderOptions) => Promise<string>; headers: Plugin } {
  // The options never change, so neither does the page: its policy is computed once.
  let page: { html: string; csp: string } | undefined;
  return {
    async render(opts) {
      const html = (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(opts);
      if (page?.html !== html) page = { html, csp: graphiqlCsp(html) };
      return html;
    },
    headers: {
      onResponse({ request, response }) {
        if (!page || request.method !== 'GET' || !response.headers.get('content-type')?.startsWith('text/html')) return;
        if (new URL(request.url).pathname !== endpoint) return;
        response.headers.set('content-security-policy', page.csp);
        response.headers.set('x-frame-options', 'DENY'); // for browsers without frame-ancestors
        response.headers.set('x-content-type-options', 'nosniff');
        response.headers.set('referrer-policy', 'no-referrer');
        response.headers.set('cross-origin-opener-policy', 'same-origin');
      },
    },
  };
}
