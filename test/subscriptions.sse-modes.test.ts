import { print } from 'graphql';
import { createClient } from 'graphql-sse';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createYoga } from 'graphql-yoga';
import { listen, type HttpServer } from '../src/http.ts';
import { schema } from '../src/schema/index.ts';
import { sseSingleConnection } from '../src/edge/sse-single-connection.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { ChallengeUpdated, CreateChallenge, VerifyChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { redisSubscribers, waitUntil, WAIT_MS } from './support/live.ts';

// graphql-sse's two modes against the real server with graphql-sse's own client: distinct
// connections (one event stream per operation, Yoga's handler) and single connection
// (`singleConnection: true`: PUT reserves a stream, operations are POSTed onto it).

let t: TestApp;
let http: HttpServer;
let a: Tenant;
let b: Tenant;
const redisUrl = process.env.REDIS_URL;
const MAX_OPS = 2;

beforeAll(async () => {
  t = await startTestApp({ VERITY_MAX_SUBSCRIPTIONS_PER_CONNECTION: String(MAX_OPS), ...(redisUrl ? { REDIS_URL: redisUrl } : {}) });
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: MAX_OPS });
  a = await t.newAccount('A');
  b = await t.newAccount('B');
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

let base = 0;
beforeEach(() => {
  base = t.deps.events.activeSubscriptions();
});
afterEach(async () => {
  await waitUntil(() => t.deps.events.activeSubscriptions() <= base, WAIT_MS, 'subscriptions freed after their clients closed');
});
async function listening(n: number, accountSid: string) {
  await waitUntil(() => t.deps.events.activeSubscriptions() >= base + n, WAIT_MS, `${n} subscriptions`);
  if (redisUrl)
    await waitUntil(async () => (await redisSubscribers(redisUrl, t.runtime.redisPrefix, accountSid)) >= 1, WAIT_MS, 'redis subscription');
}

/** Awaits a promise started earlier, bounded from now (the wait covers only the step that should settle it). */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
const first = <T>(it: AsyncIterator<T>) => it.next().then((r) => r.value as T);

const url = () => `http://127.0.0.1:${http.port}/graphql`;
const client = (authorization: string, singleConnection: boolean) =>
  createClient({ url: url(), headers: { authorization }, singleConnection, retryAttempts: 0 });
type Event = { data?: { challengeUpdated: { sid: string; status: string } }; errors?: unknown };

describe('graphql-sse client', () => {
  for (const singleConnection of [false, true]) {
    it(`${singleConnection ? 'single connection' : 'distinct connections'} mode: APPROVED arrives after verifyChallenge`, async () => {
      const f = await verifiedFactor(t, a);
      const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
      const sse = client(a.auth, singleConnection);
      const it = sse.iterate({ query: print(ChallengeUpdated), variables: { challengeSid: c.sid } })[Symbol.asyncIterator]();
      const event = first(it);
      await listening(1, a.sid);
      await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth);
      expect(((await within(event, 'APPROVED')) as Event).data?.challengeUpdated).toMatchObject({ sid: c.sid, status: 'APPROVED' });
      await it.return?.();
      sse.dispose();
    });
  }

  it('single connection mode: two subscriptions share one stream, each gets its own events, and ending one frees it on the server', async () => {
    const f1 = await verifiedFactor(t, a);
    const f2 = await verifiedFactor(t, a);
    const c1 = (await t.ok(CreateChallenge, { input: { factorSid: f1.factorSid } }, a.auth)).createChallenge;
    const c2 = (await t.ok(CreateChallenge, { input: { factorSid: f2.factorSid } }, a.auth)).createChallenge;
    const sse = client(a.auth, true);
    const it1 = sse.iterate({ query: print(ChallengeUpdated), variables: { challengeSid: c1.sid } })[Symbol.asyncIterator]();
    const e1 = first(it1);
    await listening(1, a.sid); // the stream is open: the second operation joins it
    const it2 = sse.iterate({ query: print(ChallengeUpdated), variables: { challengeSid: c2.sid } })[Symbol.asyncIterator]();
    const e2 = first(it2);
    await listening(2, a.sid);
    await t.ok(VerifyChallenge, { input: { challengeSid: c2.sid, authPayload: f2.code() } }, a.auth);
    expect(((await within(e2, 'the second challenge approved')) as Event).data?.challengeUpdated).toMatchObject({
      sid: c2.sid,
      status: 'APPROVED',
    });
    await it2.return?.(); // DELETE ?operationId=…
    await waitUntil(() => t.deps.events.activeSubscriptions() <= base + 1, WAIT_MS, 'the ended operation freed');
    await t.ok(VerifyChallenge, { input: { challengeSid: c1.sid, authPayload: f1.code() } }, a.auth);
    expect(((await within(e1, 'the first challenge approved')) as Event).data?.challengeUpdated).toMatchObject({
      sid: c1.sid,
      status: 'APPROVED',
    });
    await it1.return?.();
    sse.dispose();
  });

  it(`single connection mode: one stream carries at most ${MAX_OPS} operations at once (TOO_MANY_SUBSCRIPTIONS)`, async () => {
    const f = await verifiedFactor(t, a);
    const sse = client(a.auth, true);
    const its = Array.from({ length: MAX_OPS + 1 }, () =>
      sse.iterate({ query: print(ChallengeUpdated), variables: { identity: f.identity } })[Symbol.asyncIterator](),
    );
    const pending = its.map((i) =>
      i.next().then(
        (r) => r,
        (e: unknown) => ({ error: e }),
      ),
    );
    await listening(MAX_OPS, a.sid);
    const refused = await Promise.race(pending);
    expect(String((refused as { error?: unknown }).error)).toMatch(/429|TOO_MANY_SUBSCRIPTIONS|At most/);
    for (const i of its) await i.return?.();
    sse.dispose();
  });
});

describe('single connection mode, raw protocol', () => {
  const put = (authorization?: string) => fetch(url(), { method: 'PUT', headers: authorization ? { authorization } : {} });
  const open = (token: string, authorization: string, signal?: AbortSignal) =>
    fetch(url(), { headers: { authorization, accept: 'text/event-stream', 'x-graphql-event-stream-token': token }, signal });
  const operation = (token: string, authorization: string) =>
    fetch(url(), {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json', 'x-graphql-event-stream-token': token },
      body: JSON.stringify({ query: '{ viewer { sid } }', extensions: { operationId: '1' } }),
    });

  it('a reservation needs credentials: PUT without them is 401 UNAUTHENTICATED', async () => {
    const r = await put();
    expect(r.status).toBe(401);
    expect(((await r.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('stream hijack: another account presenting a reserved stream token can neither open it nor post onto it (404, as an unknown token)', async () => {
    const r = await put(a.auth);
    expect(r.status).toBe(201);
    const token = await r.text();
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const stolenOpen = await open(token, b.auth);
    expect(stolenOpen.status).toBe(404);
    const stolenPost = await operation(token, b.auth);
    expect(stolenPost.status).toBe(404);
    expect((await open('00000000-0000-4000-8000-000000000000', b.auth)).status).toBe(404);

    // The owner still gets the stream, and the operation's result on it.
    const abort = new AbortController();
    const stream = await open(token, a.auth, abort.signal);
    expect(stream.status).toBe(200);
    expect((await operation(token, a.auth)).status).toBe(202);
    const reader = stream.body!.getReader();
    let text = '';
    while (!text.includes('"complete"') && !text.includes('event: complete')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain(`"sid":"${a.sid}"`);
    abort.abort();
  });
});

describe('single connection mode, reservations', () => {
  it('a principal’s live streams are capped, and a reservation nobody opens is released after its TTL', async () => {
    // The plugin alone in a Yoga of its own, with a short TTL and a cap of one stream.
    const yoga = createYoga({
      schema,
      plugins: [sseSingleConnection(t.deps, { maxOperationsPerStream: 1, maxStreamsPerPrincipal: 1, reservationTtlMs: 300 })],
    });
    const put = () => yoga.fetch('http://verity.test/graphql', { method: 'PUT', headers: { authorization: a.auth } });
    expect((await put()).status).toBe(201);
    const second = await put();
    expect(second.status).toBe(429);
    expect(((await second.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe(
      'TOO_MANY_SUBSCRIPTIONS',
    );
    // Nobody opens the first stream: once its TTL has passed the principal may reserve again.
    let status = 0;
    await waitUntil(async () => (status = (await put()).status) === 201, WAIT_MS, 'the unopened reservation to be released');
    expect(status).toBe(201);
  });
});
