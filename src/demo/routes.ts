import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.ts';
import { CONTENT_TYPES, DEMO_FILES, DEMO_OUT_DIR, type DemoAsset } from './assets.ts';

/**
 * The page may load only its own files and talk only to this origin: no inline script or style,
 * no other host (the access token must not leak), no framing (clickjacking an enrolment page).
 * The QR code is inserted as parsed SVG nodes, which CSP does not restrict.
 */
export const DEMO_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The built page from dist/demo; when it was never built (`tsx src/main.ts` on a bare checkout), built in memory once. */
async function loadAssets(logger: Logger): Promise<Map<string, DemoAsset>> {
  try {
    const assets = new Map<string, DemoAsset>();
    for (const name of DEMO_FILES) {
      assets.set(name, { body: new Uint8Array(await readFile(join(DEMO_OUT_DIR, name))), contentType: CONTENT_TYPES[name] });
    }
    return assets;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    logger.warn({ dir: DEMO_OUT_DIR }, 'the /demo page was not built (npm run build:demo); building it in memory');
    const { buildDemo } = await import('./build.ts');
    return buildDemo();
  }
}

const ROUTES: Record<string, (typeof DEMO_FILES)[number]> = {
  '/demo': 'index.html',
  '/demo/': 'index.html',
  '/demo/demo.js': 'demo.js',
  '/demo/demo.css': 'demo.css',
};

/** Serves the /demo enrolment page and its two assets (GET and HEAD only). */
export function demoRoutes(deps: { logger: Logger }): Plugin {
  let assets: Promise<Map<string, DemoAsset>> | undefined;
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== '/demo' && !url.pathname.startsWith('/demo/')) return;
      const name = ROUTES[url.pathname];
      if (!name) return endResponse(new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return endResponse(new Response('Method not allowed', { status: 405, headers: { allow: 'GET, HEAD' } }));
      }
      assets ??= loadAssets(deps.logger).catch((err: unknown) => {
        assets = undefined; // try again on the next request
        throw err;
      });
      const asset = (await assets).get(name)!;
      return endResponse(
        new Response(request.method === 'HEAD' ? null : asset.body, {
          headers: {
            'content-type': asset.contentType,
            'content-length': String(asset.body.byteLength),
            'content-security-policy': DEMO_CSP,
            'x-content-type-options': 'nosniff',
            // The token arrives in the fragment, which browsers never put in a Referer; no-referrer anyway.
            'referrer-policy': 'no-referrer',
            'cross-origin-opener-policy': 'same-origin',
            'cache-control': 'no-cache',
          },
        }),
      );
    },
  };
}
