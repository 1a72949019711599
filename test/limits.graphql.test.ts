import { request as httpRequest } from 'node:http';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { loadConfig } from '../src/config.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { wsClient } from './support/live.ts';

// Every GraphQL abuse limit over real HTTP (and graphql-ws), tightened so small documents trip them.
let t: TestApp;
let http: HttpServer;
let a: Tenant;
const LIMITS = {
  VERITY_GRAPHQL_MAX_DEPTH: '5',
  VERITY_GRAPHQL_MAX_ALIASES: '3',
  VERITY_GRAPHQL_MAX_DIRECTIVES: '3',
  VERITY_GRAPHQL_MAX_TOKENS: '200',
  VERITY_GRAPHQL_MAX_COST: '1500',
  VERITY_BODY_LIMIT_BYTES: '8192',
};

beforeAll(async () => {
  t = await startTestApp(LIMITS);
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
  a = await t.newAccount('A');
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

interface Answer {
  status: number;
  text: string;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function post(query: string, variables: Record<string, unknown> = {}, authorization = a.auth): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${http.port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Answer['body'] };
}

function expectRejected(r: Answer, code: string, limit: RegExp) {
  expect(r.status).toBe(400);
  expect(r.body.data ?? undefined).toBeUndefined();
  expect(r.body.errors).toHaveLength(1);
  expect(r.body.errors![0]!.extensions).toEqual({ code });
  expect(r.body.errors![0]!.message).toMatch(limit);
}

describe('GraphQL abuse limits (HTTP)', () => {
  it('depth over VERITY_GRAPHQL_MAX_DEPTH → 400 QUERY_TOO_DEEP, nothing executed', async () => {
    const r = await post('{ services(first: 1) { edges { node { entities(first: 1) { edges { node { sid } } } } } } }');
    expectRejected(r, 'QUERY_TOO_DEEP', /depth limit of 5 exceeded, found 7/);
  });

  it('aliases over the limit → 400 TOO_MANY_ALIASES', async () => {
    const r = await post('{ a: viewer { sid } b: viewer { sid } c: viewer { sid } d: viewer { sid } }');
    expectRejected(r, 'TOO_MANY_ALIASES', /Aliases limit of 3 exceeded, found 4/);
  });

  it('directives over the limit → 400 TOO_MANY_DIRECTIVES', async () => {
    const r = await post(
      '{ viewer { sid @include(if: true) friendlyName @include(if: true) dateCreated @skip(if: false) __typename @skip(if: false) } }',
    );
    expectRejected(r, 'TOO_MANY_DIRECTIVES', /Directives limit of 3 exceeded, found 4/);
  });

  it('tokens over the limit → 400 TOO_MANY_TOKENS, and the answer does not echo the document', async () => {
    const query = `{ viewer { ${'sid '.repeat(400)} } }`;
    const r = await post(query);
    expectRejected(r, 'TOO_MANY_TOKENS', /Token limit of 200 exceeded/);
    expect(r.text.length).toBeLessThan(300);
  });

  it('cost over the limit (a large page of objects) → 400 QUERY_TOO_COSTLY', async () => {
    const r = await post('{ services(first: 100) { edges { node { sid friendlyName } } } }');
    expectRejected(r, 'QUERY_TOO_COSTLY', /Cost limit of 1500 exceeded/);
  });

  // Cost is counted with what the operation will run with: the same page costs the same whatever spells its size.
  it('cost bypass by a variable: services(first: $n) with {"n": 100} → 400 QUERY_TOO_COSTLY, like the literal', async () => {
    const r = await post('query ($n: Int) { services(first: $n) { edges { node { sid friendlyName } } } }', { n: 100 });
    expectRejected(r, 'QUERY_TOO_COSTLY', /Cost limit of 1500 exceeded, found 2625\./);
  });

  it('cost bypass by omitting first: the default page (50 rows) is counted → 400 QUERY_TOO_COSTLY', async () => {
    const r = await post('{ services { edges { node { sid friendlyName } } } }');
    expectRejected(r, 'QUERY_TOO_COSTLY', /Cost limit of 1500 exceeded, found 1812\.5\./);
  });

  it('cost bypass by a variable default in the operation: query ($n: Int = 100) → 400 QUERY_TOO_COSTLY', async () => {
    const r = await post('query ($n: Int = 100) { services(first: $n) { edges { node { sid friendlyName } } } }');
    expectRejected(r, 'QUERY_TOO_COSTLY', /Cost limit of 1500 exceeded, found 2625\./);
  });

  it('cost bypass through an alias and a fragment: the list is counted wherever it is reached', async () => {
    const r = await post(
      'query ($n: Int) { viewer { sid } mine: services(first: $n) { ...Page } } fragment Page on ServiceConnection { totalCount pageInfo { hasNextPage } }',
      { n: 100 },
    );
    expectRejected(r, 'QUERY_TOO_COSTLY', /Cost limit of 1500 exceeded/);
  });

  it('cost bypass by a variable in a subscription → QUERY_TOO_COSTLY before it starts', async () => {
    const r = await post(
      'subscription ($n: Int) { challengeUpdated(identity: "user-0001") { factor { entity { factors(first: $n) { totalCount } } } } }',
      { n: 100 },
    );
    expectRejected(r, 'QUERY_TOO_COSTLY', /Cost limit of 1500 exceeded/);
  });

  it("a small page by variable runs; a size outside 1–1000 is the field's INVALID_ARGUMENT, not a cost", async () => {
    expect(await post('query ($n: Int) { services(first: $n) { edges { node { sid friendlyName } } } }', { n: 5 })).toMatchObject({
      status: 200,
      body: { data: { services: { edges: [] } } },
    });
    const r = await post('query ($n: Int) { services(first: $n) { edges { node { sid friendlyName } } } }', { n: 5000 });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'first' });
  });

  it("documents inside the limits run; GraphiQL's full introspection query passes even these tight limits", async () => {
    expect(await post('{ services(first: 10) { edges { node { sid friendlyName } } } viewer { sid } }')).toMatchObject({
      status: 200,
      body: { data: { viewer: { sid: a.sid } } },
    });
    const intro = await post(
      getIntrospectionQuery({
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
        oneOf: true,
      }),
      {},
      '',
    );
    expect(intro.status).toBe(200);
    expect(intro.body.errors).toBeUndefined();
    expect(JSON.stringify(intro.body.data)).toContain('"challengeUpdated"');
  });

  it('an error quoting a huge input is cut short', async () => {
    // graphql-js quotes an unknown input field's name in full: 6 KB of it must not come back whole.
    const r = await post('mutation ($i: CreateServiceInput!) { createService(input: $i) { sid } }', {
      i: { friendlyName: 'x', ['x'.repeat(6000)]: 1 },
    });
    expect(r.body.errors?.[0]?.message).toMatch(/^.{0,80}"x{100,}…$/);
    expect(r.text.length).toBeLessThan(700);
    // A bad variable's value is not quoted at all (docs/security.md "Logs and error messages").
    const v = await post('query ($n: Int) { services(first: $n) { totalCount } }', { n: 'x'.repeat(6000) });
    expect(v.body.errors?.[0]?.message).toBe('Variable "$n" got invalid value; Int cannot represent non-integer value.');
  });
});

describe('configuration', () => {
  it('defaults are generous, 0 turns a limit off, bad values are reported', () => {
    expect(loadConfig({}).limits).toEqual({
      maxDepth: 15,
      maxAliases: 15,
      maxDirectives: 50,
      maxTokens: 1000,
      maxCost: 100_000,
      heavyCost: 10_000,
      heavyPerAccount: 2,
      fieldSuggestions: true,
      requestTimeoutMs: 30_000,
      accountPerSecond: 100,
      accountBurst: 1000,
      accountBurstWindowS: 10,
      identityPerSecond: 10,
      authFailures: 10,
      authWindowS: 300,
      trustProxyHops: 0,
    });
    expect(
      loadConfig({
        VERITY_GRAPHQL_MAX_DEPTH: '0',
        VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '0',
        VERITY_TRUST_PROXY: '2',
        VERITY_GRAPHQL_HEAVY_PER_ACCOUNT: '0',
      }).limits,
    ).toMatchObject({
      maxDepth: 0,
      accountPerSecond: 0,
      trustProxyHops: 2,
      heavyPerAccount: 0,
    });
    expect(() => loadConfig({ VERITY_GRAPHQL_MAX_TOKENS: '-1', VERITY_TRUST_PROXY: 'yes' })).toThrow(
      /VERITY_GRAPHQL_MAX_TOKENS[\s\S]*VERITY_TRUST_PROXY/,
    );
    expect(() => loadConfig({ VERITY_GRAPHQL_HEAVY_COST: '0', VERITY_GRAPHQL_HEAVY_PER_ACCOUNT: 'two' })).toThrow(
      /VERITY_GRAPHQL_HEAVY_COST[\s\S]*VERITY_GRAPHQL_HEAVY_PER_ACCOUNT/,
    );
  });
});

describe('field suggestions', () => {
  it('are given outside production ("Did you mean")', async () => {
    const r = await post('{ viewer { sidd } }');
    expect(r.body.errors?.[0]?.message).toBe('Cannot query field "sidd" on type "Account". Did you mean "sid" or "id"?');
  });

  it('are hidden with VERITY_GRAPHQL_FIELD_SUGGESTIONS=false (the default when NODE_ENV=production)', async () => {
    expect(loadConfig({ NODE_ENV: 'production' }).limits.fieldSuggestions).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', VERITY_GRAPHQL_FIELD_SUGGESTIONS: 'true' }).limits.fieldSuggestions).toBe(true);
    expect(loadConfig({}).limits.fieldSuggestions).toBe(true);
    const prod = await startTestApp({ NODE_ENV: 'production' });
    try {
      const b = await prod.newAccount('B');
      const res = await prod.app.fetch('http://verity.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: b.auth },
        body: JSON.stringify({ query: '{ viewer { sidd } }' }),
      });
      const body = (await res.json()) as Answer['body'];
      expect(body.errors?.[0]?.message).toBe('Cannot query field "sidd" on type "Account".');
    } finally {
      await prod.close();
    }
  });
});

describe('limits on graphql-ws subscriptions', () => {
  async function subscribeError(query: string): Promise<unknown> {
    const client = wsClient(http.port, { authorization: a.auth });
    try {
      const it = client.iterate({ query })[Symbol.asyncIterator]();
      return await it.next().then(
        (v) => ({ unexpected: v }),
        (err: unknown) => err,
      );
    } finally {
      await client.dispose();
    }
  }

  it('a too-deep subscription is refused with QUERY_TOO_DEEP (as its own error, not a closed socket)', async () => {
    const err = await subscribeError(
      'subscription { challengeUpdated(identity: "user-0001") { factor { entity { factors(first: 1) { edges { node { sid } } } } } } }',
    );
    expect(err).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/depth limit of 5/), extensions: { code: 'QUERY_TOO_DEEP' } }),
    ]);
  });

  it('cost bypass by a variable over graphql-ws: a subscription selecting factors(first: $n) with {"n": 100} → QUERY_TOO_COSTLY', async () => {
    // Refused as it starts: its one message is the error, then it completes (no event ever arrives).
    const client = wsClient(http.port, { authorization: a.auth });
    try {
      const messages: unknown[] = [];
      const query =
        'subscription ($n: Int) { challengeUpdated(identity: "user-0001") { factor { entity { factors(first: $n) { totalCount } } } } }';
      for await (const m of client.iterate({ query, variables: { n: 100 } })) messages.push(m);
      expect(messages).toEqual([
        {
          errors: [
            expect.objectContaining({
              message: expect.stringMatching(/Cost limit of 1500 exceeded/),
              extensions: expect.objectContaining({ code: 'QUERY_TOO_COSTLY' }),
            }),
          ],
        },
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('a subscription over the token limit is refused with TOO_MANY_TOKENS', async () => {
    const err = await subscribeError(`subscription { challengeUpdated(identity: "user-0001") { ${'sid '.repeat(300)} } }`);
    expect(err).toEqual([expect.objectContaining({ extensions: { code: 'TOO_MANY_TOKENS' } })]);
  });
});

describe('request body cap without Content-Length', () => {
  /** POSTs `parts` as a chunked body (no Content-Length) over a real socket. */
  function chunked(parts: string[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: http.port,
          path: '/graphql',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: a.auth },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      for (const p of parts) req.write(p);
      req.end();
    });
  }

  it('a chunked body over VERITY_BODY_LIMIT_BYTES → 413 PAYLOAD_TOO_LARGE', async () => {
    const json = JSON.stringify({ query: '{ viewer { sid } }', variables: { pad: 'x'.repeat(12_000) } });
    const r = await chunked([json.slice(0, 4000), json.slice(4000, 9000), json.slice(9000)]);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toEqual({
      errors: [{ message: 'Request body over 8192 bytes', extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
    });
  });

  it('a chunked body under the cap is served', async () => {
    const json = JSON.stringify({ query: '{ viewer { sid } }' });
    const r = await chunked([json.slice(0, 5), json.slice(5)]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ data: { viewer: { sid: a.sid } } });
  });
});

describe('request deadline', () => {
  it('execution over VERITY_REQUEST_TIMEOUT_MS → 503 REQUEST_TIMEOUT at the deadline; later mutations of the document never run', async () => {
    const slow = await startTestApp({ VERITY_REQUEST_TIMEOUT_MS: '700' });
    try {
      const b = await slow.newAccount('B');
      const send = (query: string) =>
        slow.app.fetch('http://verity.test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: b.auth },
          body: JSON.stringify({ query }),
        });
      expect((await send('{ viewer { sid } }')).status).toBe(200); // authentication is now cached: no SQL before execution
      // A real stall: another transaction holds the Service table, so the first createService waits on it.
      let release!: () => void;
      let locked!: () => void;
      const lockTaken = new Promise<void>((r) => (locked = r));
      const holder = slow.db.prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe('LOCK TABLE "Service" IN ACCESS EXCLUSIVE MODE');
          locked();
          await new Promise<void>((r) => (release = r));
        },
        { timeout: 60_000, maxWait: 60_000 },
      );
      await lockTaken;
      const started = Date.now();
      const res = await send(
        'mutation { one: createService(input: { friendlyName: "one" }) { sid } two: createService(input: { friendlyName: "two" }) { sid } }',
      );
      const waited = Date.now() - started;
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        errors: [{ message: 'The request did not finish within the 700 ms limit', extensions: { code: 'REQUEST_TIMEOUT' } }],
      });
      expect(waited).toBeGreaterThanOrEqual(650);
      expect(waited).toBeLessThan(5_000);
      release();
      await holder;
      // "one" was already running: its single INSERT completes once the lock is gone. "two" must never start.
      const names = async () =>
        (await slow.db.prisma.service.findMany({ where: { friendlyName: { in: ['one', 'two'] } } })).map((s) => s.friendlyName);
      const deadline = Date.now() + 10_000;
      while (!(await names()).includes('one') && Date.now() < deadline) await send('{ viewer { sid } }');
      expect((await send('{ services(first: 5) { totalCount } }')).status).toBe(200); // a full request after it
      expect(await names()).toEqual(['one']);
    } finally {
      await slow.close();
    }
  });
});

describe('one tenant cannot hold the database for the others', () => {
  // Default cost limits; one list-heavy operation per account at a time. The deadline only bounds
  // how long a broken limiter would leave the test waiting (no request here should reach it).
  let h: TestApp;
  let x: Tenant;
  let y: Tenant;
  beforeAll(async () => {
    h = await startTestApp({ VERITY_GRAPHQL_HEAVY_PER_ACCOUNT: '1', VERITY_REQUEST_TIMEOUT_MS: '15000' });
    x = await h.newAccount('X');
    y = await h.newAccount('Y');
  });
  afterAll(async () => {
    await h?.close();
  });
  const send = async (query: string, variables: Record<string, unknown>, authorization: string) => {
    const res = await h.app.fetch('http://verity.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
  };

  it('the nested services/entities/factors/challenges page with {"n": 1000} is refused under the default limits', async () => {
    const nested =
      'query ($n: Int) { services(first: $n) { edges { node { sid entities(first: $n) { edges { node { sid factors(first: $n) { edges { node { sid } } } challenges(first: $n) { edges { node { sid } } } } } } } } } }';
    const r = await send(nested, { n: 1000 }, x.auth);
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([
      expect.objectContaining({
        extensions: { code: 'QUERY_TOO_COSTLY' },
        message: expect.stringMatching(/^Query Cost limit of 100000 exceeded, found [0-9.e+]+\.$/),
      }),
    ]);
    expect(r.body.data).toBeUndefined();
  });

  it('concurrent heavy lists from one account: over VERITY_GRAPHQL_HEAVY_PER_ACCOUNT → 429 TOO_MANY_CONCURRENT_QUERIES, while another account is admitted', async () => {
    // 1000 rows: cost 17,250 — within VERITY_GRAPHQL_MAX_COST, over VERITY_GRAPHQL_HEAVY_COST.
    const heavy = 'query ($n: Int) { services(first: $n) { edges { node { sid friendlyName } } } }';
    for (const who of [x, y]) expect((await send('{ viewer { sid } }', {}, who.auth)).status).toBe(200); // authentication cached: no SQL before execution
    // Every list read waits: another transaction holds the Service table (and, embedded, the only connection).
    let release!: () => void;
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    const holder = h.db.prisma.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe('LOCK TABLE "Service" IN ACCESS EXCLUSIVE MODE');
        locked();
        await new Promise<void>((r) => (release = r));
      },
      { timeout: 60_000, maxWait: 60_000 },
    );
    await lockTaken;
    const x1 = send(heavy, { n: 1000 }, x.auth);
    const x2 = send(heavy, { n: 1000 }, x.auth);
    const y1 = send(heavy, { n: 1000 }, y.auth);
    // While both of X's are stuck behind the lock, the one that came second is answered at once.
    const refused = await Promise.race([x1, x2]);
    release();
    await holder;
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe('1');
    expect(refused.body.errors).toEqual([
      expect.objectContaining({
        extensions: { code: 'TOO_MANY_CONCURRENT_QUERIES', twilioCode: 20429, retryAfter: 1 },
        message: expect.stringMatching(/limit 1/),
      }),
    ]);
    const [a1, a2, b1] = await Promise.all([x1, x2, y1]);
    expect([a1.status, a2.status].sort()).toEqual([200, 429]);
    expect(b1).toMatchObject({ status: 200, body: { data: { services: { edges: [] } } } });
    // The slot is given back when the operation ends: X's next heavy list runs.
    expect(await send(heavy, { n: 1000 }, x.auth)).toMatchObject({ status: 200, body: { data: { services: { edges: [] } } } });
  });
});

// Embedded mode has no statement timeout (PGlite blocks the event loop while a statement runs:
// docs/security.md "Database share per request"); there the cost limit and the slots above hold.
describe.skipIf(!process.env.DATABASE_URL)('statement timeout (PostgreSQL)', () => {
  it('a list read held past VERITY_DB_STATEMENT_TIMEOUT_MS is cancelled by the server → 503 SERVICE_UNAVAILABLE; another tenant is served meanwhile', async () => {
    const s = await startTestApp({}, { statementTimeoutMs: 1_000 });
    try {
      const x = await s.newAccount('X');
      const y = await s.newAccount('Y');
      const send = async (query: string, authorization: string) => {
        const res = await s.app.fetch('http://verity.test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ query }),
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
      };
      for (const who of [x, y]) expect((await send('{ viewer { sid } }', who.auth)).status).toBe(200);
      // A statement that does not end by itself: X's page waits on a lock another transaction holds.
      let release!: () => void;
      let locked!: () => void;
      const lockTaken = new Promise<void>((r) => (locked = r));
      const holder = s.db.prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe('LOCK TABLE "Service" IN ACCESS EXCLUSIVE MODE');
          locked();
          await new Promise<void>((r) => (release = r));
        },
        { timeout: 60_000, maxWait: 60_000 },
      );
      await lockTaken;
      const stuck = send('{ services(first: 10) { edges { node { sid } } } }', x.auth);
      expect(await send('{ viewer { sid } }', y.auth)).toMatchObject({ status: 200, body: { data: { viewer: { sid: y.sid } } } });
      const r = await stuck;
      release();
      await holder;
      expect(r.status).toBe(503);
      expect(r.retryAfter).toBe('5');
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', twilioCode: 20503 });
    } finally {
      await s.close();
    }
  });
});
