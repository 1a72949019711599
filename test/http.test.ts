import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';

let t: TestApp;
let a: Tenant;
beforeAll(async () => {
  t = await startTestApp({ VERITY_BODY_LIMIT_BYTES: '2048' });
  a = await t.newAccount();
});
afterAll(() => t.close());

const post = (body: string, headers: Record<string, string> = {}) =>
  t.app.fetch('http://verity.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: a.auth, ...headers },
    body,
  });

describe('HTTP surface', () => {
  it('/healthz and /readyz answer', async () => {
    expect((await t.app.fetch('http://verity.test/healthz')).status).toBe(200);
    const ready = await t.app.fetch('http://verity.test/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('GET /graphql in a browser serves GraphiQL from local assets, no CDN', async () => {
    const res = await t.app.fetch('http://verity.test/graphql', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Verity GraphiQL');
    expect(html).not.toMatch(/<script[^>]+src="https?:\/\//);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs/);
  });

  it('malformed JSON → 400 with a clear message', async () => {
    const res = await post('{"query": ');
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/JSON/i);
  });

  it('unknown fields → 400 validation error naming the field', async () => {
    // GraphQL over HTTP: with the graphql-response media type, validation failures are 400s.
    const res = await post(JSON.stringify({ query: '{ viewer { sid secretSauce } }' }), { accept: 'application/graphql-response+json' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('secretSauce');
  });

  it('a body over the limit → 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await post(JSON.stringify({ query: '{ viewer { sid } }', variables: { pad: 'x'.repeat(4096) } }));
    expect(res.status).toBe(413);
    expect(JSON.stringify(await res.json())).toContain('PAYLOAD_TOO_LARGE');
  });

  it('unexpected errors are masked (a real database fault, not a mock)', async () => {
    const broken = await startTestApp();
    try {
      const b = await broken.newAccount();
      await broken.db.prisma.$executeRawUnsafe('ALTER TABLE "Service" RENAME TO "ServiceGone"');
      const res = await broken.app.fetch('http://verity.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: b.auth },
        body: JSON.stringify({ query: 'mutation { createService(input: { friendlyName: "x" }) { sid } }' }),
      });
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]!.extensions.code).toBe('INTERNAL_SERVER_ERROR');
      expect(JSON.stringify(body)).not.toMatch(/ServiceGone|relation|does not exist/);
    } finally {
      await broken.close();
    }
  });
});
