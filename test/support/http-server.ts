import { createServer, type Server } from 'node:http';
import twilio from 'twilio';
import { expect } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { App } from '../../src/server.ts';
import { startTestApp, type TestApp, type TestAppOptions } from './app.ts';

export interface HttpTestApp extends TestApp {
  /** `http://127.0.0.1:PORT`: also the app's VERITY_PUBLIC_URL, so the `url` fields it returns point back here. */
  baseUrl: string;
  server: Server;
}

/**
 * startTestApp behind a real listening HTTP server on an ephemeral port, for clients that speak
 * HTTP (twilio-node). The port is taken first, so VERITY_PUBLIC_URL can name it.
 */
export async function startHttpTestApp(env: Record<string, string> = {}, opts: TestAppOptions = {}): Promise<HttpTestApp> {
  // twilio-node routes through a proxy agent when these are set; the test talks to loopback directly.
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete process.env[k];
  let app: App | undefined;
  const server = createServer((req, res) => {
    if (app) return void app(req, res);
    res.statusCode = 503;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const t = await startTestApp({ VERITY_PUBLIC_URL: baseUrl, ...env }, opts);
  app = t.app;
  return {
    ...t,
    baseUrl,
    server,
    async close() {
      server.closeAllConnections(); // twilio-node keeps connections alive
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await t.close();
    },
  };
}

/** The one-line move from Twilio: a real twilio-node client whose Verify domain points at Verity. */
export function twilioClient(t: Pick<HttpTestApp, 'baseUrl'>, sid: string, token: string) {
  const c = twilio(sid, token);
  c.verify.baseUrl = t.baseUrl;
  return c;
}

/** The RestException a call rejects with (fails the test if it resolves, or throws anything else). */
export async function restError(call: Promise<unknown>): Promise<twilio.RestException> {
  const e = await call.then(
    (v) => {
      throw new Error(`expected a RestException, got ${JSON.stringify(v)}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(twilio.RestException);
  return e as twilio.RestException;
}
