// Regressions for what the property tests (properties.*.test.ts) found, one example each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateService, CreateTotpFactor, UpdateFactor } from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { snapshot } from './support/properties.ts';

let t: TestApp;
let tenant: Tenant;
let serviceSid: string;
let factorSid: string;

beforeAll(async () => {
  t = await startTestApp();
  tenant = await t.newAccount();
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Regressions' } }, tenant.auth)).createService.sid;
  factorSid = (await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'regress-0001', friendlyName: 'Phone' } }, tenant.auth))
    .createTotpFactor.factor.sid;
});
afterAll(() => t?.close());

async function raw(query: string, variables: unknown) {
  const res = await t.app.fetch('http://verity.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: tenant.auth },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: res.status,
    ...((await res.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] }),
  };
}

describe('text PostgreSQL cannot store is INVALID_ARGUMENT, not a 500 (found: NUL in friendlyName / metadata)', () => {
  it.each([
    ['friendlyName with NUL', { factorSid: '', friendlyName: 'a\u0000b' }, 'friendlyName'],
    ['metadata value with NUL', { factorSid: '', metadata: { k: '\u0000\u0000' } }, 'metadata.k'],
    ['metadata key with NUL', { factorSid: '', metadata: { 'a\u0000': 'v' } }, 'metadata'],
    ['friendlyName with a lone surrogate', { factorSid: '', friendlyName: 'x\ud800y' }, 'friendlyName'],
  ])('%s', async (_name, input, field) => {
    const before = await snapshot(t.deps.prisma);
    const r = await t.gql(UpdateFactor, { input: { ...input, factorSid } }, tenant.auth);
    expectError(r, 'INVALID_ARGUMENT', { field, twilioCode: 60200 });
    expect(await snapshot(t.deps.prisma)).toEqual(before);
  });

  it('a surrogate pair (an emoji) is ordinary text', async () => {
    const r = await t.ok(UpdateFactor, { input: { factorSid, friendlyName: 'Phone 🙂', metadata: { '🙂': '🙂' } } }, tenant.auth);
    expect(r.updateFactor).toMatchObject({ friendlyName: 'Phone 🙂' });
  });

  it('NUL in a service name, challenge details and hidden details', async () => {
    expectError(await t.gql(CreateService, { input: { friendlyName: '\u0000' } }, tenant.auth), 'INVALID_ARGUMENT', {
      field: 'friendlyName',
    });
    const c = await t.gql(
      CreateChallenge,
      { input: { factorSid, details: { message: 'm', fields: [{ label: 'l', value: '\u0000' }] } } },
      tenant.auth,
    );
    // The factor is unverified, but bad input is refused before anything is looked up.
    expectError(c, 'INVALID_ARGUMENT', { field: 'details.fields.0.value' });
    expectError(await t.gql(CreateChallenge, { input: { factorSid, hiddenDetails: { a: ['\u0000'] } } }, tenant.auth), 'INVALID_ARGUMENT', {
      field: 'hiddenDetails.a.0',
    });
  });
});

describe('request errors carry a stable code (found: graphql-js variable and validation errors had none)', () => {
  it('a missing required variable is BAD_USER_INPUT and names the variable', async () => {
    const r = await raw('mutation ($input: CreateServiceInput!) { createService(input: $input) { sid } }', {});
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).toMatch(/^Variable "\$input"/);
  });

  it('a variable of the wrong type is BAD_USER_INPUT, with the outer message saying which variable', async () => {
    const r = await raw('query ($first: Int) { services(first: $first) { totalCount } }', { first: 2 ** 31 });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).toBe('Variable "$first" got invalid value; Int cannot represent non 32-bit signed integer value.');
    const e = await raw('query ($s: ChallengeStatus) { viewer { sid } s: services { totalCount } }', { s: { x: 1 } });
    expect(e.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED'); // $s is never used
  });

  it('an extra input field is BAD_USER_INPUT; an unknown field in the document is GRAPHQL_VALIDATION_FAILED; bad syntax GRAPHQL_PARSE_FAILED', async () => {
    const extra = await raw('mutation ($input: CreateServiceInput!) { createService(input: $input) { sid } }', {
      input: { friendlyName: 'x', constructor: 1 },
    });
    expect(extra.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await raw('{ nope }', {})).errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await raw('{ viewer { sid }', {})).errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
  });
});

describe('deep JSON is refused, not a crash', () => {
  it.each([2000, 20_000, 90_000])('hiddenDetails nested %i deep', async (depth) => {
    // Built as text: JSON.stringify itself overflows the stack on the deepest ones.
    const deep = '{"a":['.repeat(depth / 2) + '"leaf"' + ']}'.repeat(depth / 2);
    const query = 'mutation ($input: CreateChallengeInput!) { createChallenge(input: $input) { sid } }';
    const body = `{"query":${JSON.stringify(query)},"variables":{"input":{"factorSid":"${factorSid}","hiddenDetails":{"deep":${deep}}}}}`;
    const before = await snapshot(t.deps.prisma);
    const res = await t.app.fetch('http://verity.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: tenant.auth },
      body,
    });
    const r = (await res.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
    expect(res.status).toBeLessThan(500);
    expect(r.errors?.[0]?.extensions?.code).toMatch(/^(INVALID_ARGUMENT|PAYLOAD_TOO_LARGE|BAD_REQUEST)$/);
    expect(await snapshot(t.deps.prisma)).toEqual(before);
  });
});

describe('REST path segments PostgreSQL cannot store (found: %00 as an identity was a 500)', () => {
  it('GET …/Entities/%00/Factors/YF… answers 404 (20404), like any name no resource has', async () => {
    const res = await t.app.fetch(`http://verity.test/v2/Services/${serviceSid}/Entities/%00/Factors/${factorSid}`, {
      headers: { authorization: tenant.auth },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: number }).code).toBe(20404);
  });
});
