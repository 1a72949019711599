import { print } from 'graphql';
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { ChallengeUpdated, CreateAccessToken, CreateChallenge, CreateService, UpdateService } from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { verifiedFactor } from './support/flows.ts';
import { waitUntil, WAIT_MS } from './support/live.ts';

// CORS over real sockets: Node's fetch (which, unlike a browser, lets a test set Origin) and ws.
const APP = 'https://app.example.com';
const OTHER_LISTED = 'https://other.example.com';
const EVIL = 'https://evil.example.net';
const PUBLIC_URL = 'https://verity.example.org';

let t: TestApp;
let http: HttpServer;
let a: Tenant;
let base: string;
let serviceSid: string;
let factor: Awaited<ReturnType<typeof verifiedFactor>>;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ VERITY_PUBLIC_URL: PUBLIC_URL });
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
  base = `http://127.0.0.1:${http.port}`;
  a = await t.newAccount('Cors');
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Web', allowedOrigins: [`${APP}/`, 'http://localhost:5173'] } }, a.auth))
    .createService.sid;
  // Another service lists another origin: listed somewhere, but not for this token.
  await t.ok(CreateService, { input: { friendlyName: 'Other web', allowedOrigins: [OTHER_LISTED] } }, a.auth);
  factor = await verifiedFactor(t, a, { serviceSid, identity: 'cors-user-1' });
  token = (await t.ok(CreateAccessToken, { input: { serviceSid, identity: factor.identity } }, a.auth)).createAccessToken.token;
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

const FACTOR_QUERY = 'query ($sid: ID!) { factor(sid: $sid) { sid status } }';
function post(headers: Record<string, string>, body: object = { query: FACTOR_QUERY, variables: { sid: factor.factorSid } }) {
  return fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
function preflight(origin: string) {
  return fetch(`${base}/graphql`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
}
async function refused(res: Response) {
  expect(res.status).toBe(403);
  const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
  expect(body.errors[0]!.extensions.code).toBe('FORBIDDEN');
  return body.errors[0]!.message;
}

describe('allowedOrigins on services', () => {
  it('is stored normalised and validated entry by entry', async () => {
    const s = await t.ok(UpdateService, { input: { sid: serviceSid } }, a.auth);
    expect(s.updateService.sid).toBe(serviceSid);
    const row = await t.deps.prisma.service.findUniqueOrThrow({ where: { sid: serviceSid } });
    expect(row.allowedOrigins).toEqual([APP, 'http://localhost:5173']);
    expectError(
      await t.gql(UpdateService, { input: { sid: serviceSid, allowedOrigins: [APP, 'http://app.example.com'] } }, a.auth),
      'INVALID_ARGUMENT',
      { field: 'allowedOrigins.1' },
    );
    expectError(await t.gql(CreateService, { input: { friendlyName: 'x', allowedOrigins: ['*'] } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'allowedOrigins.0',
    });
    expect((await t.deps.prisma.service.findUniqueOrThrow({ where: { sid: serviceSid } })).allowedOrigins).toEqual([
      APP,
      'http://localhost:5173',
    ]);
  });
});

describe('preflight (no credentials)', () => {
  it('a listed origin gets 204 with the CORS headers', async () => {
    const res = await preflight(APP);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization.*content-type|content-type.*authorization/);
    expect(res.headers.get('vary')).toMatch(/origin/i);
  });

  it('an unlisted origin is refused with 403 and no CORS headers', async () => {
    const res = await preflight(EVIL);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(await refused(res)).toContain(EVIL);
  });

  it('a newly listed origin is answered at once (this process drops its cache on updateService)', async () => {
    const origin = 'https://new.example.com';
    expect((await preflight(origin)).status).toBe(403);
    await t.ok(UpdateService, { input: { sid: serviceSid, allowedOrigins: [APP, 'http://localhost:5173', origin] } }, a.auth);
    expect((await preflight(origin)).status).toBe(204);
    await t.ok(UpdateService, { input: { sid: serviceSid, allowedOrigins: [APP, 'http://localhost:5173'] } }, a.auth);
    expect((await preflight(origin)).status).toBe(403);
  });
});

describe('actual cross-origin requests', () => {
  it('an access token from its service’s origin works and the answer is readable (Allow-Origin)', async () => {
    const res = await post({ origin: APP, authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull(); // no cookies, ever
    expect(await res.json()).toEqual({ data: { factor: { sid: factor.factorSid, status: 'VERIFIED' } } });
  });

  it('the same token from an origin its service does not list is refused, listed elsewhere or not at all', async () => {
    const other = await post({ origin: OTHER_LISTED, authorization: `Bearer ${token}` });
    expect(other.headers.get('access-control-allow-origin')).toBe(OTHER_LISTED); // listed: the page may read why
    expect(await refused(other)).toMatch(/allowedOrigins of this access token's service/);
    const evil = await post({ origin: EVIL, authorization: `Bearer ${token}` });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    await refused(evil);
  });

  it('account and operator credentials are refused cross-origin, even from a listed origin, and nothing runs', async () => {
    const before = await t.deps.prisma.service.count();
    const create = { query: 'mutation { createService(input: { friendlyName: "From a browser" }) { sid } }' };
    expect(await refused(await post({ origin: APP, authorization: a.auth }, create))).toMatch(/never be used from a browser/);
    expect(await refused(await post({ origin: EVIL, authorization: a.auth }, create))).toMatch(/never be used from a browser/);
    await refused(await post({ origin: APP, authorization: `Bearer ${ADMIN_TOKEN}` }, { query: '{ __typename }' }));
    expect(await t.deps.prisma.service.count()).toBe(before);
    // The REST facade too: Basic credentials from a page are refused before any route runs.
    const rest = await fetch(`${base}/v2/Services`, { headers: { origin: APP, authorization: a.auth } });
    await refused(rest);
  });

  it('no credentials from a listed origin pass (the page can read UNAUTHENTICATED); from an unlisted one, 403', async () => {
    const res = await post({ origin: APP });
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    await refused(await post({ origin: EVIL }));
  });

  it('same-origin (the Host or VERITY_PUBLIC_URL) and Origin-less requests are unaffected, account credentials included', async () => {
    for (const headers of [{ origin: base }, { origin: PUBLIC_URL }, {}] as Record<string, string>[]) {
      const res = await post({ ...headers, authorization: a.auth });
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as { data: unknown }).data).toEqual({ factor: { sid: factor.factorSid, status: 'VERIFIED' } });
    }
  });

  it('SSE subscriptions follow the same rule', async () => {
    const sse = (origin: string, authorization: string) =>
      fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { origin, authorization, 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: print(ChallengeUpdated), variables: { identity: factor.identity } }),
      });
    const res = await sse(APP, `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    await res.body!.cancel();
    await refused(await sse(APP, a.auth));
    await refused(await sse(EVIL, `Bearer ${token}`));
  });
});

describe('WebSocket', () => {
  /** Resolves with how the upgrade went: 'open', or the HTTP status it was refused with. */
  const upgrade = (origin: string) =>
    new Promise<number | 'open'>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${http.port}/graphql`, 'graphql-transport-ws', { origin });
      ws.on('open', () => {
        ws.close();
        resolve('open');
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.on('error', () => undefined);
    });
  const client = (origin: string, authorization: string) => {
    class OriginWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { origin });
      }
    }
    return createWsClient({
      url: `ws://127.0.0.1:${http.port}/graphql`,
      webSocketImpl: OriginWebSocket,
      connectionParams: { authorization },
      retryAttempts: 0,
      lazy: true,
    });
  };

  it('an upgrade from an unlisted origin is refused with 403; a listed or same origin gets a socket', async () => {
    expect(await upgrade(EVIL)).toBe(403);
    expect(await upgrade(APP)).toBe('open');
    expect(await upgrade(`http://127.0.0.1:${http.port}`)).toBe('open');
  });

  it('from a listed origin, account credentials are closed with 4403; the access token subscribes and receives', async () => {
    const bad = client(APP, a.auth);
    const outcome = await bad
      .iterate({ query: print(ChallengeUpdated), variables: { identity: factor.identity } })
      [Symbol.asyncIterator]()
      .next()
      .then(
        (r) => JSON.stringify(r),
        (e: unknown) => String((e as { code?: number }).code ?? e),
      );
    expect(outcome).toBe('4403');
    await bad.dispose();

    const before = t.deps.events.activeSubscriptions();
    const good = client(APP, `Bearer ${token}`);
    const it = good.iterate({ query: print(ChallengeUpdated), variables: { identity: factor.identity } })[Symbol.asyncIterator]();
    const first = it.next();
    await waitUntil(() => t.deps.events.activeSubscriptions() > before, WAIT_MS, 'the subscription');
    const c = (await t.ok(CreateChallenge, { input: { factorSid: factor.factorSid } }, a.auth)).createChallenge;
    expect(((await first).value as { data: { challengeUpdated: { sid: string } } }).data.challengeUpdated.sid).toBe(c.sid);
    await it.return?.();
    await good.dispose();
  });
});
