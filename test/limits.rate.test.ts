import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { clientAddress } from '../src/auth/index.ts';
import { openRuntime } from '../src/runtime.ts';
import { createApp, type App } from '../src/server.ts';
import { basic, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { ChallengeUpdated, CreateAccessToken, CreateService } from './support/documents.ts';
import { waitUntil, wsClient } from './support/live.ts';

// The limiters count real time (rate-limiter-flexible has no clock to inject): windows are short
// and tests wait exactly the Retry-After the server announced, never an arbitrary sleep.
const redisUrl = process.env.REDIS_URL;
const VIEWER = JSON.stringify({ query: '{ viewer { sid } }' });
const waitSeconds = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[]; code?: number; status?: number };
}

async function call(base: string, path: string, authorization: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res =
    path === '/graphql'
      ? await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization, ...headers },
          body: VIEWER,
        })
      : await fetch(`${base}${path}`, { headers: { authorization, ...headers } });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
}

/**
 * Sends requests one after another until the first 429; returns how many succeeded before it, the
 * 429, and the seconds it took (from `since`, default: the first request). The steady bucket refills
 * with real time, so how many fit depends on that time: on a loaded box the same run is slower and
 * more fit. Bounds are computed from the measured time, never assumed.
 */
async function untilLimited(
  send: (i: number) => Promise<Answer>,
  max: number,
  since = performance.now(),
): Promise<{ ok: number; limited: Answer; seconds: number }> {
  for (let i = 0; i < max; i++) {
    const r = await send(i);
    if (r.status === 429) return { ok: i, limited: r, seconds: (performance.now() - since) / 1000 };
    expect(r.status).toBe(200);
  }
  throw new Error(`no 429 within ${max} requests`);
}

/**
 * The most requests a bucket of `burst` plus 1 per second can let through in `seconds`: the burst,
 * plus one per 1 s window that started (windows start at the first request after the previous one
 * ended). At least `quick`, what the test allowed for a run of under two seconds.
 */
const mostThrough = (burst: number, seconds: number, quick: number) => Math.max(quick, burst + 1 + Math.ceil(seconds));

/** A test app listening on a loopback port, for real HTTP and WebSocket clients. */
async function serve(env: Record<string, string>): Promise<{ t: TestApp; http: HttpServer; base: string }> {
  const t = await startTestApp(env);
  const http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
  return { t, http, base: `http://127.0.0.1:${http.port}` };
}

describe('client address', () => {
  it('is the socket peer unless proxies are trusted; only the entries trusted proxies appended count', () => {
    expect(clientAddress('::ffff:10.0.0.5', '1.2.3.4', 0)).toBe('10.0.0.5'); // X-Forwarded-For ignored: anyone can write it
    expect(clientAddress('10.0.0.1', '1.2.3.4', 1)).toBe('1.2.3.4');
    expect(clientAddress('10.0.0.1', 'forged, 1.2.3.4', 1)).toBe('1.2.3.4'); // the client's own prefix is not trusted
    expect(clientAddress('10.0.0.1', 'forged, 1.2.3.4, 10.0.0.2', 2)).toBe('1.2.3.4');
    expect(clientAddress('10.0.0.1', undefined, 1)).toBe('10.0.0.1');
    expect(clientAddress(undefined, null, 0)).toBe('local'); // in-process app.fetch
  });
});

describe('per-account bucket', () => {
  let t: TestApp;
  let http: HttpServer;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  beforeAll(async () => {
    // 1 request per second steady + 4 more per 60 s: 5 back to back, then 429.
    ({ t, http, base } = await serve({
      VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '1',
      VERITY_RATE_LIMIT_ACCOUNT_BURST: '4',
      VERITY_RATE_LIMIT_ACCOUNT_BURST_WINDOW_S: '60',
    }));
    a = await t.newAccount('A');
    b = await t.newAccount('B');
  });
  afterAll(async () => {
    await http?.close();
    await t?.close();
  });

  it('over the bucket → 429 TOO_MANY_ATTEMPTS with Retry-After; another account is unaffected; REST and graphql-ws are limited too; it refills', async () => {
    const { ok, limited, seconds } = await untilLimited(() => call(base, '/graphql', a.auth), 40);
    const limitedAt = performance.now();
    // 5 fit; each second that passes during the run adds one (fixed 1 s windows).
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok, `${seconds.toFixed(1)} s`).toBeLessThanOrEqual(mostThrough(4, seconds, 7));
    expect(limited.retryAfter).toBe('1');
    expect(limited.body).toEqual({
      errors: [
        {
          message: 'Too many requests for this account: retry later',
          extensions: { code: 'TOO_MANY_ATTEMPTS', twilioCode: 20429, retryAfter: 1 },
        },
      ],
    });

    // Tenant B has its own bucket.
    expect(await call(base, '/graphql', b.auth)).toMatchObject({ status: 200, body: { data: { viewer: { sid: b.sid } } } });

    // The REST face shares the bucket (spent at limitedAt): Twilio's 429 (20429) with Retry-After.
    const rest = await untilLimited(() => call(base, '/v2/Services', a.auth), 40, limitedAt);
    expect(rest.ok, `${rest.seconds.toFixed(1)} s`).toBeLessThanOrEqual(mostThrough(0, rest.seconds, 2));
    expect(rest.limited.body).toMatchObject({ code: 20429, status: 429, message: 'Too many requests for this account: retry later' });
    expect(rest.limited.retryAfter).toBe('1');

    // So does each graphql-ws subscribe. One that a refilled second lets through is seen listening
    // (the event to wait for, not a fixed time), closed, and the next one tried.
    const client = wsClient(http.port, { authorization: a.auth });
    try {
      let err: unknown;
      const subs = t.deps.events.activeSubscriptions();
      for (let i = 0; i < 10 && !err; i++) {
        const it = client.iterate({ query: print(ChallengeUpdated), variables: { identity: 'user-0001' } })[Symbol.asyncIterator]();
        let settled = false;
        const refused = it.next().then(
          () => undefined,
          (e: unknown) => e,
        );
        const listening = waitUntil(
          () => settled || t.deps.events.activeSubscriptions() > subs,
          undefined,
          'the subscribe to be refused or to listen',
        ).then(() => 'listening' as const);
        const outcome = await Promise.race([refused, listening]);
        settled = true;
        await listening;
        if (outcome === 'listening') {
          await it.return?.();
          await waitUntil(() => t.deps.events.activeSubscriptions() <= subs, undefined, 'the subscription to end');
        } else err = outcome;
      }
      expect(err).toEqual([expect.objectContaining({ extensions: { code: 'TOO_MANY_ATTEMPTS', twilioCode: 20429, retryAfter: 1 } })]);
    } finally {
      await client.dispose();
    }

    // After the announced wait the steady bucket has refilled.
    const again = await call(base, '/graphql', a.auth);
    if (again.status === 429) {
      await waitSeconds(Number(again.retryAfter));
      expect((await call(base, '/graphql', a.auth)).status).toBe(200);
    }
  });
});

describe('access tokens', () => {
  let t: TestApp;
  let base: string;
  let http: HttpServer;
  let a: Tenant;
  let serviceSid: string;
  const tokenFor = async (identity: string) =>
    `Bearer ${(await t.ok(CreateAccessToken, { input: { serviceSid, identity, ttlSeconds: 3600 } }, a.auth)).createAccessToken.token}`;
  afterAll(async () => {
    await http?.close();
    await t?.close();
  });
  const start = async (env: Record<string, string>) => {
    ({ t, http, base } = await serve(env));
    a = await t.newAccount('A');
    serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Browser' } }, a.auth)).createService.sid;
  };

  it('one identity over its own bucket → 429; another identity of the same account is unaffected', async () => {
    await start({ VERITY_RATE_LIMIT_IDENTITY_PER_SECOND: '2' });
    const [alice, bob] = [await tokenFor('alice-0001'), await tokenFor('bob-00001')];
    // An access token may not read `viewer` (FORBIDDEN, HTTP 200): the limiter answers before that.
    // Twelve at once (sequential requests on a slow box could each land in a fresh 1 s window).
    const answers = await Promise.all(Array.from({ length: 12 }, () => call(base, '/graphql', alice)));
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(2); // 2 per fixed 1 s window
    const limited = answers.find((r) => r.status === 429)!;
    expect(limited).toBeDefined();
    expect(limited.retryAfter).toBe('1');
    expect(limited.body).toEqual({
      errors: [
        {
          message: 'Too many requests for this end user: retry later',
          extensions: { code: 'TOO_MANY_ATTEMPTS', twilioCode: 20429, retryAfter: 1 },
        },
      ],
    });
    const other = await call(base, '/graphql', bob);
    expect(other.status).toBe(200);
    expect(other.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await http.close();
    await t.close();
  });

  it("an account's access tokens spend the account's bucket, and the account's own credentials find it spent", async () => {
    await start({
      VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '1',
      VERITY_RATE_LIMIT_ACCOUNT_BURST: '4',
      VERITY_RATE_LIMIT_ACCOUNT_BURST_WINDOW_S: '60',
      VERITY_RATE_LIMIT_IDENTITY_PER_SECOND: '0',
    });
    // Setting up (mutations with account credentials) has spent part of the bucket already.
    const since = performance.now();
    const tokens = [await tokenFor('alice-0001'), await tokenFor('bob-00001')];
    const { ok, limited, seconds } = await untilLimited((i) => call(base, '/graphql', tokens[i % 2]!), 40, since);
    const limitedAt = performance.now();
    expect(ok, `${seconds.toFixed(1)} s`).toBeLessThanOrEqual(mostThrough(4, seconds, 7));
    expect(limited.body.errors?.[0]?.message).toBe('Too many requests for this account: retry later');
    // The account's own credentials share it: refused within what the steady 1/s refills since.
    const own = await untilLimited(() => call(base, '/graphql', a.auth), 40, limitedAt);
    expect(own.ok, `${own.seconds.toFixed(1)} s`).toBeLessThanOrEqual(mostThrough(0, own.seconds, 2));
    expect(own.limited.body.errors?.[0]?.extensions?.code).toBe('TOO_MANY_ATTEMPTS');
  });
});

describe('failed authentications per client address', () => {
  let t: TestApp;
  let http: HttpServer;
  let base: string;
  let a: Tenant;
  beforeAll(async () => {
    // Behind one trusted proxy (the test plays it, setting X-Forwarded-For): 3 failures per 5 s.
    ({ t, http, base } = await serve({
      VERITY_RATE_LIMIT_AUTH_FAILURES: '3',
      VERITY_RATE_LIMIT_AUTH_WINDOW_S: '5',
      VERITY_TRUST_PROXY: 'true',
    }));
    a = await t.newAccount('A');
  });
  afterAll(async () => {
    await http?.close();
    await t?.close();
  });

  it('guessing tokens from one address → 429 even for the right token until Retry-After; other addresses unaffected', async () => {
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    const wrong = basic(a.sid, 'f'.repeat(64));
    for (let i = 0; i < 3; i++) {
      const r = await call(base, '/graphql', wrong, from('203.0.113.7'));
      expect(r.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    const blocked = await call(base, '/graphql', a.auth, from('203.0.113.7'));
    expect(blocked.status).toBe(429);
    const retryAfter = Number(blocked.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(5);
    expect(blocked.body.errors?.[0]).toEqual({
      message: 'Too many failed authentications from this address: retry later',
      extensions: { code: 'TOO_MANY_ATTEMPTS', twilioCode: 20429, retryAfter },
    });
    // A forged prefix does not get the blocked client out: only the proxy-appended entry counts.
    expect((await call(base, '/graphql', a.auth, from('198.51.100.1, 203.0.113.7'))).status).toBe(429);
    // REST from the same address: Twilio's 429.
    expect((await call(base, '/v2/Services', a.auth, from('203.0.113.7'))).body).toMatchObject({ code: 20429, status: 429 });
    // Another address, same account, right token: served.
    expect(await call(base, '/graphql', a.auth, from('203.0.113.8'))).toMatchObject({
      status: 200,
      body: { data: { viewer: { sid: a.sid } } },
    });
    // Requests without credentials (introspection, GraphiQL) are not failures.
    for (let i = 0; i < 5; i++) expect((await call(base, '/graphql', '', from('203.0.113.9'))).status).toBe(200);
    expect((await call(base, '/graphql', a.auth, from('203.0.113.9'))).status).toBe(200);

    await waitSeconds(retryAfter);
    expect(await call(base, '/graphql', a.auth, from('203.0.113.7'))).toMatchObject({
      status: 200,
      body: { data: { viewer: { sid: a.sid } } },
    });
  });
});

// Needs Redis: in embedded mode (no REDIS_URL) the limiters are per process by design.
describe.skipIf(!redisUrl)('Redis-backed limits are shared by instances on one prefix', () => {
  let t: TestApp;
  let second: App;
  let closeSecond: () => Promise<void>;
  let a: Tenant;
  beforeAll(async () => {
    t = await startTestApp({
      REDIS_URL: redisUrl!,
      VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '1',
      VERITY_RATE_LIMIT_ACCOUNT_BURST: '3',
      VERITY_RATE_LIMIT_ACCOUNT_BURST_WINDOW_S: '60',
      VERITY_RATE_LIMIT_AUTH_FAILURES: '2',
      VERITY_RATE_LIMIT_AUTH_WINDOW_S: '60',
    });
    // A second instance: same database, same Redis and prefix, its own process state.
    const rt = await openRuntime(t.config, {
      db: { ...t.db, close: async () => {} },
      now: t.clock.now,
      redisPrefix: t.runtime.redisPrefix,
    });
    second = createApp(rt.deps);
    closeSecond = () => rt.close();
    a = await t.newAccount('A');
  });
  afterAll(async () => {
    await closeSecond?.();
    await t?.close();
  });

  async function send(app: App, authorization: string): Promise<Answer> {
    const res = await app.fetch('http://verity.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: VIEWER,
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
  }

  it('alternating between the two instances, the account bucket (4 back to back) is spent once, not twice', async () => {
    const { ok, limited, seconds } = await untilLimited((i) => send(i % 2 ? second : t.app, a.auth), 40);
    expect(ok).toBeGreaterThanOrEqual(4);
    // Separate buckets would allow 8 in under two seconds (and twice the refill after).
    expect(ok, `${seconds.toFixed(1)} s`).toBeLessThanOrEqual(mostThrough(3, seconds, 6));
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_ATTEMPTS', twilioCode: 20429 });
  });

  it('failures counted on one instance block the address on the other', async () => {
    const b = await t.newAccount('B');
    const wrong = basic(b.sid, '0'.repeat(64));
    // In-process requests have no socket: both instances see the address "local".
    expect((await send(t.app, wrong)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await send(second, wrong)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const blocked = await send(t.app, b.auth);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.retryAfter)).toBeGreaterThan(50);
  });
});
