// Every log line of a whole enrolment-and-login flow, at the most verbose level, from every
// component (our services, Yoga's logger, the WebSocket server, job workers, webhook delivery),
// searched for every secret the flow handled: seeds, auth tokens, the webhook signing secret, Basic
// credentials and each code sent. Real HTTP, real WebSocket, real job engine, real receiver.
//
// Codes are 8 digits and matched as whole digit runs. A log line's other digit runs cannot be one:
// `time` is a 13-digit epoch in ms, pids and ports are at most 7 digits, durations are logged with
// one decimal (so no long fraction), dates are ISO (runs of ≤ 4). Only hex ids (SIDs, UUIDs) could
// hold an 8-digit run by chance, ≈ 25 × (10/16)^8 × 10^-8 ≈ 6 × 10^-9 per id and code: negligible.
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, basic, startTestApp, type TestApp } from './support/app.ts';
import { Receiver } from './support/receiver.ts';
import { oathCode, unix } from './support/oath.ts';
import { next, waitUntil, wsClient, WAIT_MS } from './support/live.ts';
import { createLogger } from '../src/logger.ts';
import { listen, type HttpServer } from '../src/http.ts';
import { parseBase32Secret } from '../src/domain/totp.ts';

const METRICS_TOKEN = 'metrics-token-for-the-log-test-0123456789';
const lines: string[] = [];
const logger = createLogger('trace', { write: (s: string) => void lines.push(s) });

let t: TestApp;
let http: HttpServer;
let rx: Receiver;
let base: string;
let closed = false;

beforeAll(async () => {
  t = await startTestApp(
    {
      VERITY_WEBHOOK_ALLOW_PRIVATE: 'true',
      VERITY_METRICS_TOKEN: METRICS_TOKEN,
      VERITY_RECONCILE_INTERVAL_MS: '3600000',
      LOG_LEVEL: 'trace',
    },
    { logger },
  );
  await t.runtime.startWorkers();
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10, logger });
  // fetch reuses idle connections until 1 s before the server's 5 s keep-alive ends; on this loaded
  // 2-core box a timer can fire that late, and the server's close races the next request (ECONNRESET).
  http.server.keepAliveTimeout = 120_000;
  base = `http://127.0.0.1:${http.port}`;
  rx = await Receiver.start();
});
afterAll(async () => {
  await rx?.close();
  if (!closed) {
    await http?.close();
    await t?.close();
  }
});

interface GqlBody {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function gql(
  query: string,
  variables: Record<string, unknown> | undefined,
  authorization?: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { res, body: (await res.json()) as GqlBody };
}

async function ok(query: string, variables: Record<string, unknown> | undefined, authorization?: string) {
  const { body } = await gql(query, variables, authorization);
  if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

const codes = new Set<string>();
const secrets = new Set<string>();
const code8 = (secret: string, at = t.clock.now()) => oathCode(secret, { codeLength: 8 }, unix(at));
/** An 8-digit code that is wrong now (not one of the skew window's codes). */
function wrongCode(secret: string): string {
  const now = t.clock.now().getTime();
  const valid = new Set([-30_000, 0, 30_000].map((d) => code8(secret, new Date(now + d))));
  for (;;) {
    const c = String(randomInt(10_000_000, 100_000_000));
    if (!valid.has(c)) return c;
  }
}
const sent = (code: string) => (codes.add(code), code);

describe('logs', () => {
  it('X-Request-Id: a safe incoming id is echoed on GraphQL, REST and SSE; an unsafe one is replaced', async () => {
    const g = await gql('{ __typename }', undefined, undefined, { 'x-request-id': 'client-id.1_A' });
    expect(g.res.headers.get('x-request-id')).toBe('client-id.1_A');
    const unsafe = await gql('{ __typename }', undefined, undefined, { 'x-request-id': 'bad id\twith "quotes"' });
    expect(unsafe.res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const long = await gql('{ __typename }', undefined, undefined, { 'x-request-id': 'a'.repeat(65) });
    expect(long.res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const rest = await fetch(`${base}/v2/Services`, { headers: { 'x-request-id': 'rest-id-1' } });
    expect(rest.status).toBe(401);
    expect(rest.headers.get('x-request-id')).toBe('rest-id-1');
    const sse = new AbortController();
    const stream = await fetch(`${base}/graphql`, {
      method: 'POST',
      signal: sse.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-request-id': 'sse-id-1' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    expect(stream.headers.get('x-request-id')).toBe('sse-id-1');
    await stream.text().catch(() => {});
    sse.abort();
    // The id is on the lines of that request, not only on the response.
    await waitUntil(() => lines.some((l) => l.includes('"reqId":"client-id.1_A"') && l.includes('"msg":"request"')));
    expect(lines.some((l) => l.includes('"reqId":"bad id'))).toBe(false);
  });

  it('the whole flow at trace level: every line carries its id, none carries a seed, a token, a signing secret, Basic credentials or a code', async () => {
    secrets.add(ADMIN_TOKEN).add(METRICS_TOKEN);

    // Operator creates an account (auth token #1).
    const { createAccount } = await ok(
      'mutation ($i: CreateAccountInput!) { createAccount(input: $i) { authToken account { sid } } }',
      { i: { friendlyName: 'Logs' } },
      `Bearer ${ADMIN_TOKEN}`,
    );
    const sid: string = createAccount.account.sid;
    const tokenA: string = createAccount.authToken;
    const authA = basic(sid, tokenA);
    secrets.add(tokenA).add(authA.slice('Basic '.length));

    // A service, traced by the id we send.
    const created = await gql('mutation { createService(input: { friendlyName: "Logs" }) { sid } }', undefined, authA, {
      'x-request-id': 'obs-flow-create-service',
    });
    expect(created.res.headers.get('x-request-id')).toBe('obs-flow-create-service');
    const serviceSid: string = created.body.data!.createService.sid;

    // A STANDARD webhook (signing secret shown once) delivering to a local receiver.
    const { createWebhook } = await ok(
      'mutation ($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { sid } signingSecret } }',
      { i: { serviceSid, friendlyName: 'Logs hook', webhookUrl: rx.url(), eventTypes: ['*'], signing: 'STANDARD' } },
      authA,
    );
    const whsec: string = createWebhook.signingSecret;
    secrets.add(whsec).add(whsec.replace(/^whsec_/, ''));

    // A WebSocket subscriber, authenticated through connectionParams.
    const identity = 'log-user-0001';
    const ws = wsClient(http.port, { authorization: authA });
    const updates = ws.iterate({
      query: 'subscription ($id: String) { challengeUpdated(identity: $id) { sid status } }',
      variables: { id: identity },
    });
    await waitUntil(() => t.deps.events.activeSubscriptions() > 0, WAIT_MS, 'the WebSocket subscription');

    // Enrolment: seed returned once; a wrong code, then the right one (inline in the query text).
    const { createTotpFactor } = await ok(
      'mutation ($i: CreateTotpFactorInput!) { createTotpFactor(input: $i) { factor { sid } binding { secret uri } } }',
      { i: { serviceSid, identity, friendlyName: 'Phone', config: { codeLength: 8 } } },
      authA,
    );
    const factorSid: string = createTotpFactor.factor.sid;
    const seed: string = createTotpFactor.binding.secret;
    const parsed = parseBase32Secret(seed);
    if (!parsed.ok) throw new Error('binding secret is not Base32');
    const seedHex = Buffer.from(parsed.seed).toString('hex');
    secrets.add(seed).add(seedHex).add(encodeURIComponent(seed));
    const wrong1 = await ok(
      'mutation ($i: VerifyFactorInput!) { verifyFactor(input: $i) { status } }',
      { i: { factorSid, authPayload: sent(wrongCode(seed)) } },
      authA,
    );
    expect(wrong1.verifyFactor.status).toBe('UNVERIFIED');
    const right = await ok(
      `mutation { verifyFactor(input: { factorSid: "${factorSid}", authPayload: "${sent(code8(seed))}" }) { status } }`,
      undefined,
      authA,
    );
    expect(right.verifyFactor.status).toBe('VERIFIED');

    // Login: a challenge with a wrong code, a wrong verify, then the right one.
    t.clock.advance(30_000);
    const ch = await ok(
      'mutation ($i: CreateChallengeInput!) { createChallenge(input: $i) { sid status } }',
      { i: { factorSid, authPayload: sent(wrongCode(seed)) } },
      authA,
    );
    expect(ch.createChallenge.status).toBe('PENDING');
    const challengeSid: string = ch.createChallenge.sid;
    expect((await next(updates)).data?.challengeUpdated).toMatchObject({ sid: challengeSid, status: 'PENDING' });
    const v1 = await ok(
      'mutation ($i: VerifyChallengeInput!) { verifyChallenge(input: $i) { status } }',
      { i: { challengeSid, authPayload: sent(wrongCode(seed)) } },
      authA,
    );
    expect(v1.verifyChallenge.status).toBe('PENDING');
    const v2 = await ok(
      'mutation ($i: VerifyChallengeInput!) { verifyChallenge(input: $i) { status } }',
      { i: { challengeSid, authPayload: sent(code8(seed)) } },
      authA,
    );
    expect(v2.verifyChallenge.status).toBe('APPROVED');
    expect((await next(updates)).data?.challengeUpdated).toMatchObject({ sid: challengeSid, status: 'APPROVED' });

    // REST with Basic auth: a challenge approved on creation, the code in a form body.
    t.clock.advance(30_000);
    const restRes = await fetch(`${base}/v2/Services/${serviceSid}/Entities/${identity}/Challenges`, {
      method: 'POST',
      headers: { authorization: authA, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ FactorSid: factorSid, AuthPayload: sent(code8(seed)) }).toString(),
    });
    expect(restRes.status).toBe(201);
    expect(((await restRes.json()) as { status: string }).status).toBe('approved');

    // Failed authentication, GraphQL and REST, with a wrong token.
    const wrongToken = 'f'.repeat(64);
    const authWrong = basic(sid, wrongToken);
    secrets.add(wrongToken).add(authWrong.slice('Basic '.length));
    const denied = await gql('{ viewer { sid } }', undefined, authWrong);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await fetch(`${base}/v2/Services`, { headers: { authorization: authWrong } })).status).toBe(401);

    // Token rotation (auth token #2), then used.
    const { rotateAuthToken } = await ok('mutation { rotateAuthToken { authToken } }', undefined, authA);
    const tokenB: string = rotateAuthToken.authToken;
    const authB = basic(sid, tokenB);
    secrets.add(tokenB).add(authB.slice('Basic '.length));
    expect((await ok('{ viewer { sid } }', undefined, authB)).viewer.sid).toBe(sid);
    expect((await gql('{ viewer { sid } }', undefined, authA)).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    // An unexpected error (a real database fault), logged at error and masked.
    await t.db.prisma.$executeRawUnsafe('ALTER TABLE "Service" RENAME TO "ServiceGone"');
    const broken = await gql('mutation { createService(input: { friendlyName: "x" }) { sid } }', undefined, authB);
    await t.db.prisma.$executeRawUnsafe('ALTER TABLE "ServiceGone" RENAME TO "Service"');
    expect(broken.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');

    // A scrape with the metrics token.
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);

    // Webhook deliveries (factor.created, factor.verified, 2 × challenge.approved) recorded by the job.
    await rx.waitFor(4);
    await waitUntil(
      async () => (await t.db.prisma.webhookDelivery.count({ where: { status: 'succeeded' } })) >= 4,
      WAIT_MS,
      'deliveries recorded',
    );

    await ws.dispose();
    await http.close();
    await t.close(); // shutdown lines too
    closed = true;

    // ---------------------------------------------------------------- the search
    expect(lines.length).toBeGreaterThan(50);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const s of secrets) {
      const needle = s.toLowerCase(); // hex and Base32 in either case
      expect(
        lines.filter((l) => l.toLowerCase().includes(needle)),
        `a secret (${s.slice(0, 4)}…) is in the log`,
      ).toEqual([]);
    }
    expect(codes.size).toBe(6);
    for (const c of codes) {
      const run = new RegExp(`(?<!\\d)${c}(?!\\d)`);
      expect(
        lines.filter((l) => run.test(l)),
        `code ${c} is in the log`,
      ).toEqual([]);
    }

    // Not an empty log: the request's id, account and operation are on its lines, from several components.
    const traced = entries.filter((e) => e.reqId === 'obs-flow-create-service');
    expect(traced.some((e) => e.msg === 'request' && e.operation === 'createService' && e.accountSid === sid && e.status === 200)).toBe(
      true,
    );
    expect(traced.some((e) => e.component === 'yoga')).toBe(true);
    const access = entries.filter((e) => e.msg === 'request');
    expect(access.length).toBeGreaterThan(15);
    expect(access.every((e) => typeof e.reqId === 'string' && typeof e.operation === 'string' && typeof e.durationMs === 'number')).toBe(
      true,
    );
    expect(access.some((e) => e.operation === 'POST /v2/Services/:serviceSid/Entities/:identity/Challenges' && e.status === 201)).toBe(
      true,
    );
    expect(access.some((e) => e.operation === 'viewer' && (e.errors as string[] | undefined)?.includes('UNAUTHENTICATED'))).toBe(true);
    expect(entries.some((e) => e.level === 50 && e.msg === 'unexpected error' && typeof e.reqId === 'string')).toBe(true);
    expect(entries.some((e) => e.msg === 'ws connected' && typeof e.connId === 'string')).toBe(true);
    expect(entries.some((e) => e.msg === 'ws subscribe' && String(e.reqId).startsWith(`${String(e.connId)}/`))).toBe(true);
    expect(entries.some((e) => e.msg === 'job done' && e.job === 'deliver-webhook' && String(e.jobId).startsWith('webhook-'))).toBe(true);
  });
});
