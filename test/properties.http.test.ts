// Properties of the HTTP faces: the Twilio-compatible REST layer (arbitrary paths, methods, form
// keys and values) and raw requests over a real socket (arbitrary bodies, content types, methods)
// never answer 5xx; every error has a stable code; a failed write changes no row.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpTestApp, type HttpTestApp } from './support/http-server.ts';
import { print } from 'graphql';
import {
  Fixtures,
  Ref,
  checkGraphQLAnswer,
  hostileString,
  jsonObjectArb,
  params,
  resolve,
  snapshot,
  type Owner,
} from './support/properties.ts';
import { Viewer } from './support/documents.ts';

let t: HttpTestApp;
let fx: Fixtures;

beforeAll(async () => {
  t = await startHttpTestApp({ VERITY_WEBHOOK_ALLOW_PRIVATE: 'true' });
  fx = await Fixtures.create(t);
});
afterAll(() => t?.close());

// ------------------------------------------------------------------ REST requests

const S = '/v2/Services';
const E = `${S}/:serviceSid/Entities/:identity`;
/** docs/rest-twilio.md "REST API (Twilio Verify v2)": every route, with the kind of SID its `:sid` names. */
const ROUTES: [method: string, template: string, sid?: Ref['kind']][] = [
  ['POST', S],
  ['GET', S],
  ['GET', `${S}/:sid`, 'service'],
  ['POST', `${S}/:sid`, 'service'],
  ['DELETE', `${S}/:sid`, 'service'],
  ['POST', `${S}/:serviceSid/Entities`],
  ['GET', `${S}/:serviceSid/Entities`],
  ['GET', E],
  ['DELETE', E],
  ['POST', `${E}/Factors`],
  ['GET', `${E}/Factors`],
  ['GET', `${E}/Factors/:sid`, 'factor'],
  ['POST', `${E}/Factors/:sid`, 'unverifiedFactor'],
  ['POST', `${E}/Factors/:sid`, 'factor'],
  ['DELETE', `${E}/Factors/:sid`, 'factor'],
  ['POST', `${E}/Challenges`],
  ['GET', `${E}/Challenges`],
  ['GET', `${E}/Challenges/:sid`, 'challenge'],
  ['POST', `${E}/Challenges/:sid`, 'challenge'],
  ['POST', `${S}/:serviceSid/Webhooks`],
  ['GET', `${S}/:serviceSid/Webhooks`],
  ['GET', `${S}/:serviceSid/Webhooks/:sid`, 'webhook'],
  ['POST', `${S}/:serviceSid/Webhooks/:sid`, 'webhook'],
  ['DELETE', `${S}/:serviceSid/Webhooks/:sid`, 'webhook'],
];
/** Near misses: unknown paths and methods. */
const MISSES = [
  `${E}/Challenges/:sid/Notifications`,
  '/v2/',
  '/v2/Services/',
  `${E}/Factors/:sid/`,
  '/v2/Services/:sid/Verifications',
  '/v2/services',
];
const ALL_SID_KINDS: Ref['kind'][] = ['service', 'factor', 'unverifiedFactor', 'challenge', 'webhook', 'entity', 'account'];

const refSegment = (kinds: Ref['kind'][], owner: Owner) =>
  fc.record({ kind: fc.constantFrom(...kinds), upper: fc.boolean() }).map((r) => new Ref(r.kind, owner, r.upper));

/** A path segment: mostly the right fixture of the request's tenant, else another's, or hostile text, encoded or raw. */
const segment = (kinds: Ref['kind'][], owner: Owner) =>
  fc.oneof(
    { weight: 12, arbitrary: refSegment(kinds, owner) },
    { weight: 1, arbitrary: refSegment(kinds, owner === 'own' ? 'other' : 'own') },
    { weight: 1, arbitrary: refSegment(ALL_SID_KINDS, owner) },
    {
      weight: 2,
      arbitrary: hostileString
        .filter((s) => s.length > 0 && s.length < 3000)
        .map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('%', '%zz', '%00', '%C0%80', '%ED%A0%80', '..', '.', '%2F', 'a%2Fb', '%E2%80%AE', 'YF' + '0'.repeat(32)),
    },
  );

const routeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ROUTES).map(([method, template, sid]) => ({ method, template, sid })) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH'),
        template: fc.constantFrom(...MISSES, ...ROUTES.map((r) => r[1])),
      })
      .map((r) => ({ ...r, sid: undefined })),
  },
);

const PARAMS = [
  'FriendlyName',
  'Totp.Issuer',
  'Totp.TimeStep',
  'Totp.CodeLength',
  'Totp.Skew',
  'Identity',
  'FactorType',
  'Binding.Secret',
  'Config.Alg',
  'Config.CodeLength',
  'Config.TimeStep',
  'Config.Skew',
  'Metadata',
  'AuthPayload',
  'FactorSid',
  'ExpirationDate',
  'Details.Message',
  'Details.Fields',
  'HiddenDetails',
  'EventTypes',
  'WebhookUrl',
  'Status',
  'Version',
  'PageSize',
  'Page',
  'PageToken',
  'Order',
] as const;

const paramValue = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '0',
      '-1',
      '3',
      '6',
      '8',
      '9',
      '30',
      '61',
      '1000',
      '1001',
      '99999999999',
      '1.5',
      ' 6',
      'totp',
      'push',
      'sha256',
      'SHA1',
      'asc',
      'desc',
      'pending',
      'enabled',
      'v2',
      '*',
      'factor.created',
      '2030-01-01T00:00:00Z',
      '2000-01-01T00:00:00Z',
      'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
      '123456',
      'http://127.0.0.1:9/x',
    ),
  },
  { weight: 2, arbitrary: jsonObjectArb.map((o) => JSON.stringify(o) ?? '{}') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"label":"a","value":"b"}',
      '[]',
      'null',
      '"x"',
      '{',
      '{"__proto__":{"x":1}}',
      '{"label":"\\u0000","value":"b"}',
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom<Owner>('own', 'other').chain((o) => refSegment(['factor', 'unverifiedFactor', 'challenge'], o)) },
);

const formArb = fc.array(
  fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PARAMS) }, { weight: 1, arbitrary: hostileString }), paramValue),
  { maxLength: 10 },
);

const restRequest = fc.tuple(routeArb, fc.constantFrom<Owner>('own', 'own', 'own', 'other')).chain(([route, owner]) =>
  fc.record({
    method: fc.constant(route.method),
    template: fc.constant(route.template),
    segments: fc.record({
      serviceSid: segment(['service'], owner),
      identity: segment(['identity'], owner),
      sid: segment(route.sid ? [route.sid] : ALL_SID_KINDS, owner),
    }),
    form: formArb,
    // fetch labels a string body text/plain when no type is given: that is the 415 case.
    contentType: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8') },
      { weight: 1, arbitrary: fc.constantFrom('application/json', 'text/plain', undefined) },
    ),
    auth: fxAuth(),
  }),
);

function fxAuth() {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant('own' as const) },
    fc.constantFrom('operator' as const, 'none' as const, 'garbage' as const),
  );
}

function buildRest(r: typeof restRequest extends fc.Arbitrary<infer T> ? T : never) {
  const now = t.clock.now();
  const seg = (v: unknown) => {
    const x = resolve(v, fx.sets, now);
    return v instanceof Ref ? encodeURIComponent(String(x)) : String(x);
  };
  const path = r.template.replace(/:(serviceSid|identity|sid)/g, (_m, name: 'serviceSid' | 'identity' | 'sid') => seg(r.segments[name]));
  const form = new URLSearchParams();
  for (const [k, v] of r.form) form.append(k, String(resolve(v, fx.sets, now)));
  const headers: Record<string, string> = {};
  const auth = fx.header(r.auth);
  if (auth) headers.authorization = auth;
  const hasBody = r.method !== 'GET' && r.method !== 'DELETE';
  if (hasBody && r.contentType) headers['content-type'] = r.contentType;
  const url = `http://verity.test${path}${hasBody ? '' : `?${form}`}`;
  return {
    url,
    init: { method: r.method, headers, ...(hasBody ? { body: form.toString() } : {}) } as RequestInit,
    describe: `${r.method} ${path} ${form.toString().slice(0, 300)}`,
  };
}

/** Twilio's error JSON, with a code that is not the masked 20500. */
function checkRestAnswer(status: number, text: string, context: string) {
  expect(status, `HTTP ${status} for ${context}: ${text.slice(0, 400)}`).toBeLessThan(500);
  if (status < 400) return;
  const body = JSON.parse(text) as { code?: unknown; status?: unknown; message?: unknown };
  expect(typeof body.code === 'number' && body.code !== 20500, `error without a Twilio code for ${context}: ${text.slice(0, 400)}`).toBe(
    true,
  );
  expect(body.status).toBe(status);
  expect(typeof body.message).toBe('string');
}

describe('REST (Twilio Verify v2 face)', () => {
  it('arbitrary paths, methods, form keys and values: never 5xx, coded errors, no half-written row', async () => {
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(restRequest, async (r) => {
        const { url, init, describe: context } = buildRest(r);
        const before = await snapshot(t.deps.prisma);
        const res = await t.app.fetch(url, init);
        const text = await res.text();
        checkRestAnswer(res.status, text, context);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status >= 400 || init.method === 'GET')
          expect(await snapshot(t.deps.prisma), `rows changed by ${res.status} ${context}`).toEqual(before);
        else await fx.repair();
      }),
      params(100),
    );
    // The runs reached the services, both ways: some writes succeeded, some input was refused.
    console.log('REST statuses', JSON.stringify(statuses));
    expect(Object.keys(statuses).some((s) => s.startsWith('2'))).toBe(true);
    expect(statuses[400]).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------ raw requests over a real socket

const graphqlBody = fc.oneof(
  fc.constant(JSON.stringify({ query: print(Viewer) })),
  fc
    .record(
      {
        query: fc.oneof(
          hostileString,
          fc.constantFrom(
            '{ viewer { sid } }',
            'mutation { rotateAuthToken { authToken } }',
            '{ __schema { types { name } } }',
            'subscription { challengeUpdated { sid } }',
            '{ viewer { sid } } { viewer { sid } }',
            'query A { viewer { sid } } query B { viewer { sid } }',
          ),
        ),
        variables: fc.oneof(fc.constant(undefined), jsonObjectArb, fc.constant('not an object')),
        operationName: fc.oneof(fc.constant(undefined), fc.constantFrom('A', 'B', 'C'), fc.integer()),
      },
      { requiredKeys: ['query'] },
    )
    .map((o) => JSON.stringify(o)),
  fc.array(fc.constant({ query: '{ viewer { sid } }' }), { maxLength: 3 }).map((a) => JSON.stringify(a)),
  hostileString,
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constantFrom(
    '',
    '{',
    'null',
    '[]',
    '{"query": null}',
    '{"query": 1}',
    '{"query":"{ viewer { sid } }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}',
  ),
);

const rawRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
  path: fc.constantFrom(
    '/graphql',
    '/graphql',
    '/graphql?query=%7Bviewer%7Bsid%7D%7D',
    '/graphql?query=mutation%7BrotateAuthToken%7BauthToken%7D%7D',
    '/graphql?query=%7B',
    '/v2/Services',
    '/healthz',
    '/readyz',
    '/',
    '/nope',
    '/graphql/../v2/Services',
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=latin1',
    'application/graphql+json',
    'application/x-www-form-urlencoded',
    'text/plain',
    'multipart/form-data; boundary=x',
    undefined,
  ),
  accept: fc.constantFrom(
    'application/json',
    'application/graphql-response+json',
    'text/event-stream',
    'text/html',
    'multipart/mixed',
    '*/*',
    undefined,
  ),
  body: graphqlBody,
  auth: fxAuth(),
});

describe('raw HTTP over a real socket', () => {
  it('arbitrary methods, content types and bodies: never 5xx; JSON GraphQL errors carry stable codes; no row changes unless it succeeded', async () => {
    await fc.assert(
      fc.asyncProperty(rawRequest, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.accept) headers.accept = r.accept;
        const auth = fx.header(r.auth);
        if (auth) headers.authorization = auth;
        const hasBody = !['GET', 'HEAD'].includes(r.method);
        const context = `${r.method} ${r.path} ${JSON.stringify(headers)} ${r.body.slice(0, 200)}`;
        // A subscription over SSE would stream until closed: abort after the first bytes.
        const ac = new AbortController();
        const res = await fetch(`${t.baseUrl}${r.path}`, {
          method: r.method,
          headers,
          ...(hasBody ? { body: r.body } : {}),
          signal: ac.signal,
        });
        const type = res.headers.get('content-type') ?? '';
        if (type.includes('text/event-stream') || type.includes('multipart/mixed')) {
          expect(res.status, context).toBeLessThan(500);
          ac.abort();
          return;
        }
        const text = await res.text();
        expect(res.status, `HTTP ${res.status} for ${context}: ${text.slice(0, 300)}`).toBeLessThan(500);
        if (r.path.startsWith('/graphql') && type.includes('json')) {
          const body = checkGraphQLAnswer(res.status, text, context);
          adopt(body.data);
        }
      }),
      params(80),
    );
  });
});

/** `mutation { rotateAuthToken … }` may succeed: keep using the fixture tenant's new token. */
function adopt(data: Record<string, unknown> | null | undefined) {
  const token = (data?.rotateAuthToken as { authToken?: string } | undefined)?.authToken;
  if (token) Object.assign(fx.tenants.own, { token, auth: `Basic ${Buffer.from(`${fx.tenants.own.sid}:${token}`).toString('base64')}` });
}
