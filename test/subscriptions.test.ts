import { print } from 'graphql';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { ChallengeUpdated, CreateChallenge, DeleteFactor, FactorUpdated, UpdateFactor, VerifyChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { next, redisSubscribers, sseClient, waitUntil, wsClient, WAIT_MS } from './support/live.ts';

// Real clients over real sockets: graphql-ws over WebSocket, graphql-sse over HTTP. With REDIS_URL
// set the app's event bus is Redis pub/sub, so the same tests cover both transports of events.
let t: TestApp;
let http: HttpServer;
let a: Tenant;
let b: Tenant;
const redisUrl = process.env.REDIS_URL;

beforeAll(async () => {
  t = await startTestApp({ VERITY_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2', ...(redisUrl ? { REDIS_URL: redisUrl } : {}) });
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 2 });
  a = await t.newAccount('A');
  b = await t.newAccount('B');
});
afterAll(async () => {
  await http.close();
  await t.close();
});

/** Resolves once `n` more subscriptions than before the test listen here (and, with Redis, on the account's channel). */
let base = 0;
beforeEach(() => {
  base = t.deps.events.activeSubscriptions();
});
afterEach(async () => {
  // Every client is closed by now: its server-side subscriptions must be gone too.
  await waitUntil(() => t.deps.events.activeSubscriptions() <= base, WAIT_MS, 'subscriptions freed after their clients closed');
});
async function listening(n: number, accountSid: string) {
  await waitUntil(() => t.deps.events.activeSubscriptions() >= base + n, WAIT_MS, `${n} subscriptions`);
  if (redisUrl) {
    await waitUntil(async () => (await redisSubscribers(redisUrl, t.runtime.redisPrefix, accountSid)) >= 1, WAIT_MS, 'redis subscription');
  }
}

describe('challengeUpdated', () => {
  it('graphql-ws (connectionParams): APPROVED arrives after verifyChallenge', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    const client = wsClient(http.port, { authorization: a.auth });
    const it = client.iterate({ query: print(ChallengeUpdated), variables: { challengeSid: c.sid } })[Symbol.asyncIterator]();
    const first = it.next();
    await listening(1, a.sid);
    await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth);
    const r = await Promise.race([first, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no event')), WAIT_MS).unref())]);
    expect(r.value).toMatchObject({ data: { challengeUpdated: { sid: c.sid, status: 'APPROVED', factor: { sid: f.factorSid } } } });
    await it.return?.();
    await client.dispose();
  });

  it('graphql-sse: an identity filter delivers every change in scope, in order (created, approved)', async () => {
    const f = await verifiedFactor(t, a);
    const client = sseClient(http.port, a.auth);
    const it = client.iterate({ query: print(ChallengeUpdated), variables: { identity: f.identity } })[Symbol.asyncIterator]();
    const first = it.next();
    await listening(1, a.sid);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, a.auth)).createChallenge;
    const created = (await first).value as { data: { challengeUpdated: { sid: string; status: string } } };
    expect(created.data.challengeUpdated.sid).toBe(c.sid);
    const approved = (await next(it)) as typeof created;
    expect(approved.data.challengeUpdated).toMatchObject({ sid: c.sid, status: 'APPROVED' });
    await it.return?.();
    client.dispose();
  });

  it('WebSocket credentials from the upgrade request’s Authorization header work too', async () => {
    const f = await verifiedFactor(t, a);
    const client = wsClient(http.port, { authorization: a.auth, viaHeader: true });
    const it = client.iterate({ query: print(ChallengeUpdated), variables: { serviceSid: f.serviceSid } })[Symbol.asyncIterator]();
    const first = it.next();
    await listening(1, a.sid);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    expect(((await first).value as { data: { challengeUpdated: { sid: string } } }).data.challengeUpdated.sid).toBe(c.sid);
    await it.return?.();
    await client.dispose();
  });

  it('no credentials → closed with 4401 (WebSocket) or UNAUTHENTICATED (SSE); no filter → INVALID_ARGUMENT', async () => {
    const firstOutcome = (it: AsyncIterator<unknown>) =>
      it.next().then(
        (r) => JSON.stringify(r.value),
        (e: unknown) => JSON.stringify(e),
      );
    const anon = wsClient(http.port);
    const closed = await anon
      .iterate({ query: print(ChallengeUpdated), variables: { identity: 'someone-1' } })
      [Symbol.asyncIterator]()
      .next()
      .then(
        (r) => JSON.stringify(r),
        (e: unknown) => (e as { code?: number }).code,
      );
    expect(closed).toBe(4401);
    await anon.dispose();
    const client = wsClient(http.port, { authorization: a.auth });
    expect(await firstOutcome(client.iterate({ query: print(ChallengeUpdated), variables: {} })[Symbol.asyncIterator]())).toContain(
      'INVALID_ARGUMENT',
    );
    await client.dispose();
    const sse = sseClient(http.port, 'Basic bm9wZTpub3Bl');
    expect(
      await firstOutcome(sse.iterate({ query: print(ChallengeUpdated), variables: { identity: 'someone-1' } })[Symbol.asyncIterator]()),
    ).toContain('UNAUTHENTICATED');
    sse.dispose();
  });

  it('caps subscriptions per WebSocket connection with a clear error', async () => {
    const client = wsClient(http.port, { authorization: a.auth });
    const its = [1, 2].map((i) =>
      client.iterate({ query: print(ChallengeUpdated), variables: { identity: `cap-user-${i}` } })[Symbol.asyncIterator](),
    );
    const pending = its.map((it) => it.next());
    await listening(2, a.sid);
    const third = client.iterate({ query: print(ChallengeUpdated), variables: { identity: 'cap-user-3' } })[Symbol.asyncIterator]();
    await expect(third.next()).rejects.toSatisfy((e: unknown) => JSON.stringify(e).includes('TOO_MANY_SUBSCRIPTIONS'));
    for (const it of its) await it.return?.();
    void pending;
    await client.dispose();
  });
});

describe('tenant isolation of subscriptions', () => {
  it('a subscriber never sees another account’s events, even filtering by that account’s SIDs', async () => {
    const fa = await verifiedFactor(t, a);
    const fb = await verifiedFactor(t, b);
    const ca = (await t.ok(CreateChallenge, { input: { factorSid: fa.factorSid } }, a.auth)).createChallenge;
    const client = wsClient(http.port, { authorization: b.auth });
    const client2 = wsClient(http.port, { authorization: b.auth });
    // B guesses A's challenge SID, service SID and identity, and also watches its own service.
    const spy = client.iterate({ query: print(ChallengeUpdated), variables: { challengeSid: ca.sid } })[Symbol.asyncIterator]();
    const spy2 = client
      .iterate({ query: print(ChallengeUpdated), variables: { serviceSid: fa.serviceSid, identity: fa.identity } })
      [Symbol.asyncIterator]();
    const own = client2.iterate({ query: print(ChallengeUpdated), variables: { serviceSid: fb.serviceSid } })[Symbol.asyncIterator]();
    const spyNext = spy.next();
    const spy2Next = spy2.next();
    const ownNext = own.next();
    await listening(3, b.sid);
    await t.ok(VerifyChallenge, { input: { challengeSid: ca.sid, authPayload: fa.code() } }, a.auth); // A's event first
    const cb = (await t.ok(CreateChallenge, { input: { factorSid: fb.factorSid } }, b.auth)).createChallenge; // then B's
    const firstSeen = await Promise.race([
      spyNext.then((r) => ({ from: 'spy', r })),
      spy2Next.then((r) => ({ from: 'spy2', r })),
      ownNext.then((r) => ({ from: 'own', r })),
    ]);
    // B's own event is the first anything of B's sees: A's earlier event reached none of them.
    expect(firstSeen.from).toBe('own');
    expect(JSON.stringify(firstSeen.r.value)).toContain(cb.sid);
    await client.dispose();
    await client2.dispose();
  });
});

describe('factorUpdated', () => {
  it('delivers updated and deleted (the last state) for a factor', async () => {
    const f = await verifiedFactor(t, a);
    const client = wsClient(http.port, { authorization: a.auth });
    const it = client.iterate({ query: print(FactorUpdated), variables: { factorSid: f.factorSid } })[Symbol.asyncIterator]();
    const first = it.next();
    await listening(1, a.sid);
    await t.ok(UpdateFactor, { input: { factorSid: f.factorSid, friendlyName: 'Renamed' } }, a.auth);
    expect(((await first).value as { data: unknown }).data).toMatchObject({
      factorUpdated: { sid: f.factorSid, friendlyName: 'Renamed', status: 'VERIFIED' },
    });
    await t.ok(DeleteFactor, { sid: f.factorSid }, a.auth);
    expect(((await next(it)) as { data: unknown }).data).toMatchObject({
      factorUpdated: { sid: f.factorSid, friendlyName: 'Renamed', entity: { identity: f.identity } },
    });
    await it.return?.();
    await client.dispose();
  });
});
