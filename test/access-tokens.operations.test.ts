import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import { listen, type HttpServer } from '../src/http.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateAccessToken, CreateChallenge, CreateService, UpdateFactor } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { redisSubscribers, sseClient, waitUntil, wsClient, WAIT_MS } from './support/live.ts';

// Walks every root field of the schema with an access token and checks it is allowed or refused
// exactly as docs/browser-clients.md "What a token may do" lists. A root field missing from TABLE fails the first test: a new
// operation is closed to browsers until someone classifies it here.

let t: TestApp;
let http: HttpServer;
let a: Tenant;
let token: string;
let fx: {
  serviceSid: string;
  identity: string;
  factorSid: string;
  challengeSid: string;
  otherIdentity: string;
  otherFactorSid: string;
  otherChallengeSid: string;
  otherServiceSid: string;
};
const redisUrl = process.env.REDIS_URL;

beforeAll(async () => {
  // The walk sends hundreds of requests per identity back to back; the per-identity bucket has its own test (limits.rate).
  t = await startTestApp({ ...(redisUrl ? { REDIS_URL: redisUrl } : {}), VERITY_RATE_LIMIT_IDENTITY_PER_SECOND: '0' });
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
  a = await t.newAccount('Walker');
  const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Walk' } }, a.auth)).createService.sid;
  const mine = await verifiedFactor(t, a, { serviceSid, identity: 'walk-user-1' });
  const other = await verifiedFactor(t, a, { serviceSid, identity: 'walk-user-2' });
  const otherService = await verifiedFactor(t, a, { identity: 'walk-user-1' });
  const challenge = async (factorSid: string) => (await t.ok(CreateChallenge, { input: { factorSid } }, a.auth)).createChallenge.sid;
  fx = {
    serviceSid,
    identity: mine.identity,
    factorSid: mine.factorSid,
    challengeSid: await challenge(mine.factorSid),
    otherIdentity: other.identity,
    otherFactorSid: other.factorSid,
    otherChallengeSid: await challenge(other.factorSid),
    otherServiceSid: otherService.serviceSid,
  };
  token = (await t.ok(CreateAccessToken, { input: { serviceSid, identity: mine.identity, ttlSeconds: 3600 } }, a.auth)).createAccessToken
    .token;
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

type Vars = Record<string, unknown>;
interface Entry {
  allowed: boolean;
  query: string;
  vars: () => Vars;
  /** Allowed fields only: the same operation aimed at another identity or service of the account → FORBIDDEN. */
  elsewhere?: () => Vars[];
}
const FAKE = { webhook: 'YW' + '1'.repeat(32), delivery: 'YD' + '1'.repeat(32) };

const TABLE: Record<string, Entry> = {
  // ---- reads
  'Query.viewer': { allowed: false, query: '{ viewer { sid } }', vars: () => ({}) },
  'Query.service': { allowed: false, query: 'query ($s: ID!) { service(sid: $s) { sid } }', vars: () => ({ s: fx.serviceSid }) },
  'Query.services': { allowed: false, query: '{ services { totalCount } }', vars: () => ({}) },
  'Query.entity': {
    allowed: true,
    query: 'query ($s: ID!, $i: String!) { entity(serviceSid: $s, identity: $i) { sid factors { totalCount } challenges { totalCount } } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
    elsewhere: () => [
      { s: fx.serviceSid, i: fx.otherIdentity },
      { s: fx.otherServiceSid, i: fx.identity },
    ],
  },
  'Query.factor': {
    allowed: true,
    query: 'query ($sid: ID!) { factor(sid: $sid) { sid entity { sid } } }',
    vars: () => ({ sid: fx.factorSid }),
    elsewhere: () => [{ sid: fx.otherFactorSid }],
  },
  'Query.challenge': {
    allowed: true,
    query: 'query ($sid: ID!) { challenge(sid: $sid) { sid factor { sid } hiddenDetails } }',
    vars: () => ({ sid: fx.challengeSid }),
    elsewhere: () => [{ sid: fx.otherChallengeSid }],
  },
  'Query.node': {
    allowed: true,
    query: 'query ($id: ID!) { node(id: $id) { id ... on Factor { identity } } }',
    vars: () => ({ id: fx.factorSid }),
    elsewhere: () => [{ id: fx.otherFactorSid }, { id: fx.otherChallengeSid }, { id: fx.serviceSid }, { id: a.sid }],
  },
  'Query.nodes': {
    allowed: true,
    query: 'query ($ids: [ID!]!) { nodes(ids: $ids) { id } }',
    vars: () => ({ ids: [fx.factorSid, fx.challengeSid] }),
    elsewhere: () => [{ ids: [fx.otherFactorSid] }, { ids: [fx.serviceSid] }],
  },
  'Query.auditEvents': { allowed: false, query: '{ auditEvents { edges { node { sid } } } }', vars: () => ({}) },
  'Query.webhook': { allowed: false, query: 'query ($w: ID!) { webhook(sid: $w) { sid } }', vars: () => ({ w: FAKE.webhook }) },
  'Query.webhooks': {
    allowed: false,
    query: 'query ($s: ID!) { webhooks(serviceSid: $s) { totalCount } }',
    vars: () => ({ s: fx.serviceSid }),
  },
  'Query.webhookDeliveries': {
    allowed: false,
    query: 'query ($w: ID!) { webhookDeliveries(webhookSid: $w) { totalCount } }',
    vars: () => ({ w: FAKE.webhook }),
  },
  // ---- writes
  'Mutation.createAccount': {
    allowed: false,
    query: 'mutation { createAccount(input: { friendlyName: "Sneaky" }) { authToken } }',
    vars: () => ({}),
  },
  'Mutation.createService': {
    allowed: false,
    query: 'mutation { createService(input: { friendlyName: "Sneaky" }) { sid } }',
    vars: () => ({}),
  },
  'Mutation.updateService': {
    allowed: false,
    query: 'mutation ($s: ID!) { updateService(input: { sid: $s, friendlyName: "Sneaky" }) { sid } }',
    vars: () => ({ s: fx.serviceSid }),
  },
  'Mutation.deleteService': {
    allowed: false,
    query: 'mutation ($s: ID!) { deleteService(sid: $s) { deletedSid } }',
    vars: () => ({ s: fx.serviceSid }),
  },
  'Mutation.createEntity': {
    allowed: false,
    query: 'mutation ($s: ID!, $i: String!) { createEntity(input: { serviceSid: $s, identity: $i }) { sid } }',
    vars: () => ({ s: fx.serviceSid, i: 'walk-user-new' }),
  },
  'Mutation.deleteEntity': {
    allowed: false,
    query: 'mutation ($s: ID!, $i: String!) { deleteEntity(serviceSid: $s, identity: $i) { deletedSid } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
  },
  'Mutation.createTotpFactor': {
    allowed: true,
    query:
      'mutation ($s: ID!, $i: String!) { createTotpFactor(input: { serviceSid: $s, identity: $i, friendlyName: "Walk" }) { factor { sid } binding { uri } } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
    elsewhere: () => [
      { s: fx.serviceSid, i: fx.otherIdentity },
      { s: fx.otherServiceSid, i: fx.identity },
    ],
  },
  'Mutation.verifyFactor': {
    allowed: true,
    query: 'mutation ($f: ID!) { verifyFactor(input: { factorSid: $f, authPayload: "000000" }) { sid status } }',
    vars: () => ({ f: fx.factorSid }),
    elsewhere: () => [{ f: fx.otherFactorSid }],
  },
  'Mutation.updateFactor': {
    allowed: false,
    query: 'mutation ($f: ID!) { updateFactor(input: { factorSid: $f, friendlyName: "Sneaky" }) { sid } }',
    vars: () => ({ f: fx.factorSid }),
  },
  'Mutation.deleteFactor': {
    allowed: false,
    query: 'mutation ($f: ID!) { deleteFactor(sid: $f) { deletedSid } }',
    vars: () => ({ f: fx.factorSid }),
  },
  'Mutation.createChallenge': {
    allowed: true,
    query: 'mutation ($f: ID!) { createChallenge(input: { factorSid: $f }) { sid status } }',
    vars: () => ({ f: fx.factorSid }),
    elsewhere: () => [{ f: fx.otherFactorSid }],
  },
  'Mutation.verifyChallenge': {
    allowed: true,
    query: 'mutation ($c: ID!) { verifyChallenge(input: { challengeSid: $c, authPayload: "000000" }) { sid status } }',
    vars: () => ({ c: fx.challengeSid }),
    elsewhere: () => [{ c: fx.otherChallengeSid }],
  },
  'Mutation.createWebhook': {
    allowed: false,
    query:
      'mutation ($s: ID!) { createWebhook(input: { serviceSid: $s, friendlyName: "Sneaky", webhookUrl: "https://example.com/h", eventTypes: ["*"] }) { signingSecret } }',
    vars: () => ({ s: fx.serviceSid }),
  },
  'Mutation.updateWebhook': {
    allowed: false,
    query: 'mutation ($w: ID!) { updateWebhook(input: { sid: $w, friendlyName: "Sneaky" }) { sid } }',
    vars: () => ({ w: FAKE.webhook }),
  },
  'Mutation.deleteWebhook': {
    allowed: false,
    query: 'mutation ($w: ID!) { deleteWebhook(sid: $w) { deletedSid } }',
    vars: () => ({ w: FAKE.webhook }),
  },
  'Mutation.redeliverWebhookDelivery': {
    allowed: false,
    query: 'mutation ($d: ID!) { redeliverWebhookDelivery(sid: $d) { sid } }',
    vars: () => ({ d: FAKE.delivery }),
  },
  'Mutation.rotateAuthToken': {
    allowed: false,
    query: 'mutation { rotateAuthToken(input: { graceSeconds: 60 }) { authToken } }',
    vars: () => ({}),
  },
  'Mutation.createAccessToken': {
    allowed: false,
    query: 'mutation ($s: ID!, $i: String!) { createAccessToken(input: { serviceSid: $s, identity: $i }) { token } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
  },
  // Recovery codes: not for browser tokens, even for their own identity (docs/decisions/recovery-codes.md).
  'Mutation.generateRecoveryCodes': {
    allowed: false,
    query: 'mutation ($s: ID!, $i: String!) { generateRecoveryCodes(input: { serviceSid: $s, identity: $i }) { codes } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
  },
  'Mutation.redeemRecoveryCode': {
    allowed: false,
    query:
      'mutation ($s: ID!, $i: String!) { redeemRecoveryCode(input: { serviceSid: $s, identity: $i, code: "ZZZZZ-ZZZZZ" }) { valid remaining } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
  },
  // Resynchronisation changes the factor's drift: account credentials only, like updateFactor (docs/security.md).
  'Mutation.resyncFactor': {
    allowed: false,
    query: 'mutation ($f: ID!) { resyncFactor(input: { factorSid: $f, authPayloads: ["000000", "000000"] }) { sid drift } }',
    vars: () => ({ f: fx.factorSid }),
  },
  // Import brings seeds from another system: an operator's job, never a browser's.
  'Mutation.importTotpFactors': {
    allowed: false,
    query:
      'mutation ($s: ID!, $i: String!) { importTotpFactors(input: { serviceSid: $s, factors: [{ identity: $i, secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", friendlyName: "Imported", verified: true }] }) { imported } }',
    vars: () => ({ s: fx.serviceSid, i: fx.identity }),
  },
  // ---- live (run over SSE and WebSocket below)
  'Subscription.challengeUpdated': {
    allowed: true,
    query:
      'subscription ($c: ID, $s: ID, $i: String) { challengeUpdated(challengeSid: $c, serviceSid: $s, identity: $i) { sid identity hiddenDetails } }',
    vars: () => ({ i: fx.identity }),
    elsewhere: () => [
      { i: fx.otherIdentity },
      { s: fx.otherServiceSid },
      { c: fx.otherChallengeSid },
      { s: fx.otherServiceSid, i: fx.identity },
    ],
  },
  'Subscription.factorUpdated': {
    allowed: true,
    query: 'subscription ($f: ID, $s: ID, $i: String) { factorUpdated(factorSid: $f, serviceSid: $s, identity: $i) { sid identity } }',
    vars: () => ({ f: fx.factorSid }),
    elsewhere: () => [{ i: fx.otherIdentity }, { f: fx.otherFactorSid }, { s: fx.otherServiceSid }],
  },
};

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}
async function run(query: string, variables: Vars, authorization: string): Promise<Result> {
  const res = await t.app.fetch('http://verity.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Result;
}
const codeOf = (r: Result) => r.errors?.[0]?.extensions?.code;

const rootFields = () =>
  [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
    type ? Object.keys(type.getFields()).map((f) => `${type.name}.${f}`) : [],
  );

describe('every root field, with an access token', () => {
  it('is classified in the table (a new operation must be classified before it ships)', () => {
    expect(Object.keys(TABLE).sort()).toEqual(rootFields().sort());
  });

  it('queries and mutations: allowed ones work, every other one is FORBIDDEN and changes nothing', async () => {
    const auth = `Bearer ${token}`;
    const before = await snapshot();
    for (const [name, e] of Object.entries(TABLE)) {
      if (name.startsWith('Subscription.')) continue;
      const r = await run(e.query, e.vars(), auth);
      const field = name.split('.')[1]!;
      if (e.allowed) {
        expect(r.errors, name).toBeUndefined();
        expect(r.data?.[field], name).toBeTruthy();
      } else {
        expect(codeOf(r), `${name}: ${JSON.stringify(r)}`).toBe('FORBIDDEN');
        expect(r.errors![0]!.extensions?.twilioCode, name).toBe(20403);
      }
    }
    // Refused calls wrote nothing: the service, entity, factor and account are as they were
    // (the allowed ones only added one factor and one challenge to the token's own identity).
    const after = await snapshot();
    expect(after).toEqual({ ...before, factors: before.factors + 1, challenges: before.challenges + 1 });
  });

  it('queries and mutations that are allowed are FORBIDDEN against another identity or service', async () => {
    const auth = `Bearer ${token}`;
    for (const [name, e] of Object.entries(TABLE)) {
      if (!e.allowed || name.startsWith('Subscription.')) continue;
      for (const vars of e.elsewhere!()) {
        const r = await run(e.query, vars, auth);
        expect(codeOf(r), `${name} ${JSON.stringify(vars)}: ${JSON.stringify(r)}`).toBe('FORBIDDEN');
      }
    }
  });

  for (const transport of ['sse', 'ws'] as const) {
    it(`subscriptions over ${transport}: its own events arrive; filters pointing elsewhere are FORBIDDEN`, async () => {
      const auth = `Bearer ${token}`;
      const client = transport === 'sse' ? sseClient(http.port, auth) : wsClient(http.port, { authorization: auth });
      try {
        for (const [name, e] of Object.entries(TABLE)) {
          if (!name.startsWith('Subscription.')) continue;
          for (const vars of e.elsewhere!()) {
            const it = client.iterate({ query: e.query, variables: vars })[Symbol.asyncIterator]();
            const outcome = await it.next().then(
              (r) => JSON.stringify(r.value),
              (err: unknown) => JSON.stringify(err),
            );
            expect(outcome, `${name} ${JSON.stringify(vars)}`).toContain('FORBIDDEN');
            await it.return?.();
          }
        }
        // Allowed: subscribe, wait until the server listens, cause a change with the account, receive it.
        const base = t.deps.events.activeSubscriptions();
        const challenges = client
          .iterate({ query: TABLE['Subscription.challengeUpdated']!.query, variables: TABLE['Subscription.challengeUpdated']!.vars() })
          [Symbol.asyncIterator]();
        const factors = client
          .iterate({ query: TABLE['Subscription.factorUpdated']!.query, variables: TABLE['Subscription.factorUpdated']!.vars() })
          [Symbol.asyncIterator]();
        const [c1, f1] = [challenges.next(), factors.next()];
        await waitUntil(() => t.deps.events.activeSubscriptions() >= base + 2, WAIT_MS, 'two subscriptions');
        if (redisUrl)
          await waitUntil(async () => (await redisSubscribers(redisUrl, t.runtime.redisPrefix, a.sid)) >= 1, WAIT_MS, 'redis subscription');
        // The neighbour's change first: it must not arrive.
        await t.ok(CreateChallenge, { input: { factorSid: fx.otherFactorSid, hiddenDetails: { k: 'v' } } }, a.auth);
        const mine = (await t.ok(CreateChallenge, { input: { factorSid: fx.factorSid, hiddenDetails: { k: 'v' } } }, a.auth))
          .createChallenge.sid;
        await t.ok(UpdateFactor, { input: { factorSid: fx.factorSid, metadata: { via: transport } } }, a.auth);
        const c = (await c1).value as { data: { challengeUpdated: { sid: string; identity: string; hiddenDetails: unknown } } };
        expect(c.data.challengeUpdated).toEqual({ sid: mine, identity: fx.identity, hiddenDetails: null });
        const f = (await f1).value as { data: { factorUpdated: { sid: string } } };
        expect(f.data.factorUpdated.sid).toBe(fx.factorSid);
        await challenges.return?.();
        await factors.return?.();
      } finally {
        await client.dispose();
      }
    });
  }

  it('a subscription opened with an access token ends when the token expires', async () => {
    const { token: short, expiresAt } = (
      await t.ok(CreateAccessToken, { input: { serviceSid: fx.serviceSid, identity: fx.identity, ttlSeconds: 60 } }, a.auth)
    ).createAccessToken;
    t.clock.set(new Date(new Date(expiresAt).getTime() - 300)); // 300 ms of validity left
    const base = t.deps.events.activeSubscriptions();
    const client = sseClient(http.port, `Bearer ${short}`);
    const it = client
      .iterate({ query: TABLE['Subscription.challengeUpdated']!.query, variables: { i: fx.identity } })
      [Symbol.asyncIterator]();
    let ended = false;
    const end = it.next().finally(() => void (ended = true));
    // The clock starts once the server listens (or the subscription already ended): connecting on a
    // loaded box is not part of what is timed, the 300 ms of validity and the close are.
    await waitUntil(() => ended || t.deps.events.activeSubscriptions() > base, WAIT_MS, 'the subscription to listen');
    const started = Date.now();
    const r = await Promise.race([
      end,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still open 5 s after the token expired')), 5_000).unref()),
    ]);
    expect(r.done).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    client.dispose();
  });
});

async function snapshot() {
  const p = t.deps.prisma;
  const [services, entities, factors, challenges, webhooks, accounts, account, service, factor] = await Promise.all([
    p.service.count(),
    p.entity.count(),
    p.factor.count(),
    p.challenge.count(),
    p.webhook.count(),
    p.account.count(),
    p.account.findUniqueOrThrow({ where: { sid: a.sid }, select: { authTokenHash: true } }),
    p.service.findUniqueOrThrow({ where: { sid: fx.serviceSid }, select: { friendlyName: true } }),
    p.factor.findUniqueOrThrow({ where: { sid: fx.factorSid }, select: { friendlyName: true, status: true } }),
  ]);
  return { services, entities, factors, challenges, webhooks, accounts, account, service, factor };
}
