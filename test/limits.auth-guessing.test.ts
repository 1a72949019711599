// Guessing credentials: every endpoint that checks one — /metrics on the API port and on the
// worker's metrics port, REST, SSE, graphql-ws, the operator's and the account's mutations —
// spends one per-address failed-authentication budget, so a guesser gains nothing by switching
// endpoints. In Redis mode the budget lives in Redis, shared by every process on the prefix.
import { print } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { serveMetrics } from '../src/observability/metrics-server.ts';
import { createRateLimits } from '../src/edge/rate-limits.ts';
import { ADMIN_TOKEN, basic, startTestApp, type TestApp } from './support/app.ts';
import { ChallengeUpdated, CreateAccessToken, CreateAccount } from './support/documents.ts';
import { sseClient, wsClient } from './support/live.ts';

const redisUrl = process.env.REDIS_URL;
const METRICS_TOKEN = 'a-metrics-token-for-guessing-0123456789';
const WRONG_BEARER = `Bearer ${'x'.repeat(40)}`;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An app on a loopback port (every request from one address, 127.0.0.1), its limiter in Redis when REDIS_URL is set. */
async function serve(env: Record<string, string> = {}): Promise<{ t: TestApp; http: HttpServer; base: string }> {
  const t = await startTestApp({ VERITY_METRICS_TOKEN: METRICS_TOKEN, ...(redisUrl ? { REDIS_URL: redisUrl } : {}), ...env });
  closers.push(() => t.close());
  await t.deps.rateLimits.ready(); // a limiter fails open until its store is connected
  const http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
  closers.push(() => http.close());
  return { t, http, base: `http://127.0.0.1:${http.port}` };
}

const viewer = (base: string, authorization: string) =>
  fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query: '{ viewer { sid } }' }),
  });
const gql = (base: string, authorization: string, query: string, variables: unknown) =>
  fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query, variables }),
  });
const metrics = (url: string, authorization: string) => fetch(`${url}/metrics`, { headers: { authorization } });

describe('guessing the metrics or operator token on /metrics', () => {
  it('the API port answers 429 after the failed-auth budget (10), the right token included, like /graphql does', async () => {
    const { t, base } = await serve();
    const a = await t.newAccount('Guessed');
    for (let i = 0; i < 10; i++) expect((await metrics(base, `Bearer guess-${i}-${'0'.repeat(32)}`)).status).toBe(401);
    const refused = await metrics(base, `Bearer ${METRICS_TOKEN}`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.text()).toMatch(/Too many failed authentications/);
    expect((await metrics(base, `Bearer ${ADMIN_TOKEN}`)).status).toBe(429);
    // One budget: the same address is refused on /graphql too, right credentials included.
    expect((await viewer(base, a.auth)).status).toBe(429);
  });

  it("the worker's metrics port spends the same budget: guessing there is refused there and on the API", async () => {
    const { t, base } = await serve({ VERITY_RATE_LIMIT_AUTH_FAILURES: '4' });
    const a = await t.newAccount('Guessed');
    // A worker is another process: in Redis mode it has its own limiter on the shared prefix.
    const rateLimits = redisUrl
      ? createRateLimits({ limits: t.config.limits, redisUrl, redisPrefix: t.runtime.redisPrefix, logger: t.deps.logger })
      : t.deps.rateLimits;
    if (redisUrl) closers.push(() => rateLimits.close());
    await rateLimits.ready(); // a limiter fails open until its store is connected
    const worker = await serveMetrics({ config: t.config, metrics: t.deps.metrics, rateLimits }, 0, '127.0.0.1');
    closers.push(() => worker.close());
    const workerUrl = `http://127.0.0.1:${worker.port}`;
    for (let i = 0; i < 4; i++) expect((await metrics(workerUrl, `Bearer guess-${i}-${'0'.repeat(32)}`)).status).toBe(401);
    const refused = await metrics(workerUrl, `Bearer ${METRICS_TOKEN}`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await metrics(base, `Bearer ${METRICS_TOKEN}`)).status).toBe(429);
    expect((await viewer(base, a.auth)).status).toBe(429);
  });
});

describe('guessing across endpoints spends one budget', () => {
  it('one wrong credential each at /metrics, REST, SSE, graphql-ws, createAccount and createAccessToken → the next request is 429', async () => {
    const { t, base, http } = await serve({ VERITY_RATE_LIMIT_AUTH_FAILURES: '6' });
    const a = await t.newAccount('Guessed');
    const wrongBasic = basic(a.sid, 'f'.repeat(64));

    expect((await metrics(base, WRONG_BEARER)).status).toBe(401);
    expect((await fetch(`${base}/v2/Services`, { headers: { authorization: wrongBasic } })).status).toBe(401);

    const firstOutcome = (it: AsyncIterator<unknown>) =>
      it.next().then(
        (r) => JSON.stringify(r.value),
        (e: unknown) => JSON.stringify(e),
      );
    const sse = sseClient(http.port, wrongBasic);
    expect(
      await firstOutcome(sse.iterate({ query: print(ChallengeUpdated), variables: { identity: 'guess-1' } })[Symbol.asyncIterator]()),
    ).not.toContain('"data"');
    sse.dispose();
    const ws = wsClient(http.port, { authorization: wrongBasic });
    expect(
      await firstOutcome(ws.iterate({ query: print(ChallengeUpdated), variables: { identity: 'guess-1' } })[Symbol.asyncIterator]()),
    ).not.toContain('"data"');
    await ws.dispose();

    const operator = await gql(base, WRONG_BEARER, print(CreateAccount), { input: { friendlyName: 'Guess' } });
    expect(((await operator.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    const minting = await gql(base, wrongBasic, print(CreateAccessToken), {
      input: { serviceSid: `VA${'0'.repeat(32)}`, identity: 'guess-1' },
    });
    expect(((await minting.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');

    const refused = await viewer(base, a.auth);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message).toBe(
      'Too many failed authentications from this address: retry later',
    );
  });
});
