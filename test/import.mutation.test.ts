import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../src/client/gql/index.ts';
import { encodeBase32 } from '../src/domain/totp.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { AuditEvents } from './support/audit-documents.ts';
import { CreateAccessToken, CreateChallenge, CreateService, CreateTotpFactor, ListFactors, RotateAuthToken } from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { oathCode, unix } from './support/oath.ts';

const ImportTotpFactors = graphql(`
  mutation ImportTotpFactors($input: ImportTotpFactorsInput!) {
    importTotpFactors(input: $input) {
      imported
      errors {
        index
        code
        message
      }
    }
  }
`);

const ImportedFactors = graphql(`
  query ImportedFactors($serviceSid: ID!, $identity: String!) {
    entity(serviceSid: $serviceSid, identity: $identity) {
      sid
      factors(first: 200) {
        totalCount
        edges {
          node {
            sid
            friendlyName
            status
            config {
              alg
              codeLength
              timeStep
              skew
            }
          }
        }
      }
    }
  }
`);

let t: TestApp;
let a: Tenant;
let serviceSid: string;
let n = 0;
const nextIdentity = () => `import-user-${String(++n).padStart(4, '0')}`;
const newSecret = (bytes = 20) => encodeBase32(new Uint8Array(randomBytes(bytes)));

beforeAll(async () => {
  // A 1000-item request is ~120 KB of JSON: above the default 100 KB body cap (docs/importing.md).
  t = await startTestApp({ VERITY_BODY_LIMIT_BYTES: String(1024 * 1024) });
  a = await t.newAccount();
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Import' } }, a.auth)).createService.sid;
});
afterAll(() => t.close());

type Item = { identity: string; secret: string; friendlyName: string; verified?: boolean; config?: Record<string, unknown> };
const importAs = (auth: string, factors: Item[], svc = serviceSid) =>
  t.gql(ImportTotpFactors, { input: { serviceSid: svc, factors: factors as never } }, auth);
const imported = async (factors: Item[]) =>
  (await t.ok(ImportTotpFactors, { input: { serviceSid, factors: factors as never } }, a.auth)).importTotpFactors;
const factorsOf = async (identity: string, svc = serviceSid, auth = a.auth) =>
  (await t.ok(ImportedFactors, { serviceSid: svc, identity }, auth)).entity;

describe('importTotpFactors', () => {
  it('imports the good items of a mixed batch and names each bad one by index and stable code, quoting no secret', async () => {
    const good = [nextIdentity(), nextIdentity(), nextIdentity()];
    const shortSecret = newSecret(10); // an 80-bit Google Authenticator-era seed
    const items: Item[] = [
      { identity: good[0]!, secret: newSecret(), friendlyName: 'Phone' },
      { identity: nextIdentity(), secret: 'NOT-BASE32-0189', friendlyName: 'Phone' },
      { identity: good[1]!, secret: newSecret(32).toLowerCase(), friendlyName: 'Laptop', config: { alg: 'SHA256', codeLength: 8 } },
      { identity: nextIdentity(), secret: shortSecret, friendlyName: 'Phone' },
      { identity: 'short', secret: newSecret(), friendlyName: 'Phone' },
      { identity: nextIdentity(), secret: newSecret(), friendlyName: 'Phone', config: { timeStep: 90 } },
      { identity: good[2]!, secret: newSecret(), friendlyName: 'Tablet', verified: true },
      { identity: nextIdentity(), secret: newSecret(), friendlyName: ' ' },
    ];
    const r = await imported(items);
    expect(r.imported).toBe(3);
    expect(r.errors.map((e) => [e.index, e.code])).toEqual([
      [1, 'INVALID_ARGUMENT'],
      [3, 'INVALID_ARGUMENT'],
      [4, 'INVALID_ARGUMENT'],
      [5, 'INVALID_ARGUMENT'],
      [7, 'INVALID_ARGUMENT'],
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/secret: is not Base32/),
      expect.stringMatching(/secret: must decode to at least 16 bytes \(RFC 4226/),
      expect.stringMatching(/identity: must be 8–64 characters/),
      expect.stringMatching(/config\.timeStep: must be 20–60/),
      expect.stringMatching(/friendlyName: must not be empty/),
    ]);
    const text = JSON.stringify(r.errors).toUpperCase();
    for (const s of [shortSecret, 'NOT-BASE32-0189']) expect(text).not.toContain(s);
    expect((await factorsOf(good[1]!))!.factors.edges[0]!.node).toMatchObject({
      friendlyName: 'Laptop',
      status: 'UNVERIFIED',
      config: { alg: 'SHA256', codeLength: 8, timeStep: 30, skew: 1 },
    });
    expect((await factorsOf(good[2]!))!.factors.edges[0]!.node.status).toBe('VERIFIED');
  });

  it('a rejected item leaves nothing behind: not even the entity it named', async () => {
    const identity = nextIdentity();
    const r = await imported([{ identity, secret: newSecret(8), friendlyName: 'Phone' }]);
    expect(r).toMatchObject({ imported: 0, errors: [{ index: 0, code: 'INVALID_ARGUMENT' }] });
    expect(await factorsOf(identity)).toBeNull();
  });

  it('is idempotent for an identical (identity, secret): a repeat counts as imported and creates no second factor', async () => {
    const identity = nextIdentity();
    const secret = newSecret();
    const item = { identity, secret, friendlyName: 'Phone', verified: true };
    expect(await imported([item])).toEqual({ imported: 1, errors: [] });
    // The same seed written differently (case, spaces, padding) is the same seed.
    const respelled = `${secret.toLowerCase().slice(0, 8)} ${secret.toLowerCase().slice(8)}====`;
    expect(await imported([item, { ...item, secret: respelled }, item])).toEqual({ imported: 3, errors: [] });
    expect((await factorsOf(identity))!.factors.totalCount).toBe(1);
    // A factor enrolled through createTotpFactor with the same seed is found too.
    const other = nextIdentity();
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: other, friendlyName: 'Phone', secret } }, a.auth);
    expect(await imported([{ identity: other, secret, friendlyName: 'Phone' }])).toEqual({ imported: 1, errors: [] });
    expect((await factorsOf(other))!.factors.totalCount).toBe(1);
    // The same seed for another identity is another factor.
    expect((await imported([{ ...item, identity: nextIdentity() }])).imported).toBe(1);
  });

  it('the same item twice in one batch, written concurrently, still makes one factor', async () => {
    const identity = nextIdentity();
    const item = { identity, secret: newSecret(), friendlyName: 'Phone' };
    expect(await imported(Array.from({ length: 8 }, () => item))).toEqual({ imported: 8, errors: [] });
    expect((await factorsOf(identity))!.factors.totalCount).toBe(1);
  });

  it('enforces the factors-per-entity cap like createTotpFactor (FACTOR_LIMIT_REACHED per item)', async () => {
    const identity = nextIdentity();
    const items = Array.from({ length: 102 }, (_, i) => ({ identity, secret: newSecret(), friendlyName: `Device ${i}` }));
    const r = await imported(items);
    expect(r.imported).toBe(100);
    expect(r.errors.map((e) => e.code)).toEqual(['FACTOR_LIMIT_REACHED', 'FACTOR_LIMIT_REACHED']);
    expect((await factorsOf(identity))!.factors.totalCount).toBe(100);
  });

  it('takes 1000 items in one call and refuses 1001 as a whole with INVALID_ARGUMENT, writing nothing', async () => {
    const prefix = `cap-${process.pid}`;
    // Items rejected by validation cost no write: the cap is checked without writing 1000 factors.
    const make = (count: number, tag: string) =>
      Array.from({ length: count }, (_, i) => ({
        identity: `${prefix}-${tag}-${i}`,
        secret: i === 0 ? newSecret() : 'A',
        friendlyName: 'P',
      }));
    expectError(await importAs(a.auth, make(1001, 'over')), 'INVALID_ARGUMENT', { field: 'factors' });
    expect(await factorsOf(`${prefix}-over-0`)).toBeNull();
    const r = (await importAs(a.auth, make(1000, 'max'))).data!.importTotpFactors;
    expect(r.imported).toBe(1);
    expect(r.errors).toHaveLength(999);
    expect(r.errors.every((e, i) => e.index === i + 1 && e.code === 'INVALID_ARGUMENT')).toBe(true);
  });

  it('a verified import can be challenged at once with a code from oathtool', async () => {
    const identity = nextIdentity();
    const secret = newSecret();
    await imported([{ identity, secret, friendlyName: 'Phone', verified: true, config: { alg: 'SHA512', codeLength: 8, timeStep: 60 } }]);
    const factorSid = (await factorsOf(identity))!.factors.edges[0]!.node.sid;
    const code = oathCode(secret, { alg: 'sha512', codeLength: 8, timeStep: 60 }, unix(t.clock.now()));
    const c = (await t.ok(CreateChallenge, { input: { factorSid, authPayload: code } }, a.auth)).createChallenge;
    expect(c.status).toBe('APPROVED');
    // An unverified import must be enrolled first, like any new factor (Twilio 60318).
    const pending = nextIdentity();
    await imported([{ identity: pending, secret: newSecret(), friendlyName: 'Phone' }]);
    const pendingSid = (await factorsOf(pending))!.factors.edges[0]!.node.sid;
    expectError(await t.gql(CreateChallenge, { input: { factorSid: pendingSid } }, a.auth), 'FACTOR_NOT_VERIFIED');
  });

  it('audits one factor.imported event per factor created, with no secret in it', async () => {
    const identity = nextIdentity();
    const secret = newSecret();
    await imported([{ identity, secret, friendlyName: 'Phone', verified: true }]);
    await imported([{ identity, secret, friendlyName: 'Phone', verified: true }]); // a no-op: no second event
    const entity = (await factorsOf(identity))!;
    const events = (await t.ok(AuditEvents, { type: 'factor.imported', first: 1000 }, a.auth)).auditEvents.edges.filter(
      (e) => e.node.entitySid === entity.sid,
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.node).toMatchObject({
      actor: 'account',
      serviceSid,
      factorSid: entity.factors.edges[0]!.node.sid,
      details: { identity, verified: true, alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1 },
    });
    expect(JSON.stringify(events).toUpperCase()).not.toContain(secret);
  });

  it('tenancy: another account’s service answers NOT_FOUND, and its entities are never touched', async () => {
    const b = await t.newAccount('Other');
    const identity = nextIdentity();
    const secret = newSecret();
    await imported([{ identity, secret, friendlyName: 'Phone' }]);
    expectError(await importAs(b.auth, [{ identity, secret, friendlyName: 'Mallory' }]), 'NOT_FOUND');
    const bService = (await t.ok(CreateService, { input: { friendlyName: 'B' } }, b.auth)).createService.sid;
    // The same identity and seed in B's own service is B's own factor, not a hit on A's.
    expect((await importAs(b.auth, [{ identity, secret, friendlyName: 'B phone' }], bService)).data?.importTotpFactors).toEqual({
      imported: 1,
      errors: [],
    });
    expect((await factorsOf(identity))!.factors.edges.map((e) => e.node.friendlyName)).toEqual(['Phone']);
    expect((await factorsOf(identity, bService, b.auth))!.factors.edges.map((e) => e.node.friendlyName)).toEqual(['B phone']);
  });

  it('is configuration management: an access token and a rotated-out auth token are FORBIDDEN', async () => {
    const c = await t.newAccount('Rotating');
    const svc = (await t.ok(CreateService, { input: { friendlyName: 'C' } }, c.auth)).createService.sid;
    const identity = nextIdentity();
    const item = { identity, secret: newSecret(), friendlyName: 'Phone' };
    const { token } = (await t.ok(CreateAccessToken, { input: { serviceSid: svc, identity } }, c.auth)).createAccessToken;
    expectError(await importAs(`Bearer ${token}`, [item], svc), 'FORBIDDEN');
    const rotated = (await t.ok(RotateAuthToken, { input: { graceSeconds: 3600 } }, c.auth)).rotateAuthToken;
    expectError(await importAs(c.auth, [item], svc), 'FORBIDDEN');
    const fresh = `Basic ${Buffer.from(`${c.sid}:${rotated.authToken}`).toString('base64')}`;
    expect((await importAs(fresh, [item], svc)).data?.importTotpFactors.imported).toBe(1);
    expect((await t.ok(ListFactors, { serviceSid: svc, identity }, fresh)).entity?.factors.totalCount).toBe(1);
  });
});

describe('REST (Verity extension): POST /v2/Services/{ServiceSid}/Factors/Import', () => {
  type RestItem = { identity: string; secret: string; friendly_name: string; verified?: boolean; config?: Record<string, unknown> };
  const restImport = (items: (RestItem | string)[], auth = a.auth, svc = serviceSid) => {
    const form = new URLSearchParams();
    for (const i of items) form.append('Factors', typeof i === 'string' ? i : JSON.stringify(i));
    return t.app.fetch(`http://verity.test/v2/Services/${svc}/Factors/Import`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
  };
  const json = async (r: Response) => (await r.json()) as Record<string, any>;

  it('imports the good items, reports each bad one by index (REST field names, no secret), and is idempotent', async () => {
    const [first, second] = [nextIdentity(), nextIdentity()];
    const [s1, s2, short] = [newSecret(), newSecret(32), newSecret(10)];
    const items = [
      { identity: first, secret: s1, friendly_name: 'Phone', verified: true, config: { alg: 'sha512', code_length: 8, time_step: 60 } },
      { identity: nextIdentity(), secret: short, friendly_name: 'Phone' },
      '{"identity": "not json',
      { identity: second, secret: s2, friendly_name: 'Laptop' },
      { identity: nextIdentity(), secret: newSecret(), friendly_name: 'Phone', config: { time_step: 90 } },
      { identity: nextIdentity(), secret: newSecret(), friendly_name: '' },
    ];
    const res = await restImport(items);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      account_sid: a.sid,
      service_sid: serviceSid,
      imported: 2,
      url: `${t.config.publicUrl}/v2/Services/${serviceSid}/Factors/Import`,
    });
    expect(body.errors).toEqual([
      {
        index: 1,
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/^Invalid parameter: secret: must decode to at least 16 bytes/),
      },
      { index: 2, code: 'INVALID_ARGUMENT', message: 'Invalid parameter: Factors: each value must be a JSON object' },
      { index: 4, code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^Invalid parameter: config\.time_step: must be 20–60/) },
      { index: 5, code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^Invalid parameter: friendly_name: /) },
    ]);
    expect(JSON.stringify(body).toUpperCase()).not.toContain(short);
    expect((await factorsOf(second))!.factors.edges[0]!.node).toMatchObject({ friendlyName: 'Laptop', status: 'UNVERIFIED' });
    // The verified import answers a challenge at once, with a code from oathtool.
    const factorSid = (await factorsOf(first))!.factors.edges[0]!.node.sid;
    const code = oathCode(s1, { alg: 'sha512', codeLength: 8, timeStep: 60 }, unix(t.clock.now()));
    expect((await t.ok(CreateChallenge, { input: { factorSid, authPayload: code } }, a.auth)).createChallenge.status).toBe('APPROVED');
    // Repeating the call creates nothing new: same answer, one factor each.
    expect(await json(await restImport(items))).toMatchObject({ imported: 2, errors: body.errors });
    expect((await factorsOf(first))!.factors.totalCount).toBe(1);
  });

  it('another account’s service is 404 / 20404 and nothing is written; an access token is 403', async () => {
    const b = await t.newAccount('Other REST import');
    const identity = nextIdentity();
    const foreign = await restImport([{ identity, secret: newSecret(), friendly_name: 'Mallory' }], b.auth);
    expect(foreign.status).toBe(404);
    expect((await json(foreign)).code).toBe(20404);
    expect(await factorsOf(identity)).toBeNull();
    const { token } = (await t.ok(CreateAccessToken, { input: { serviceSid, identity } }, a.auth)).createAccessToken;
    const scoped = await restImport([{ identity, secret: newSecret(), friendly_name: 'Phone' }], `Bearer ${token}`);
    expect(scoped.status).toBe(403); // writing seeds is configuration management: the account's own credentials only
    expect(await factorsOf(identity)).toBeNull();
  });

  it('the whole call is refused (400 / 60200, nothing written) with no Factors or more than 1000', async () => {
    const none = await restImport([]);
    expect(none.status).toBe(400);
    expect(await json(none)).toMatchObject({ code: 60200, message: expect.stringMatching(/^Invalid parameter: Factors: is required/) });
    const identity = `rest-over-${process.pid}-0`;
    const over = Array.from({ length: 1001 }, (_, i) => (i === 0 ? { identity, secret: newSecret(), friendly_name: 'P' } : '{}'));
    const refused = await restImport(over);
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({
      code: 60200,
      message: expect.stringMatching(/^Invalid parameter: Factors: must hold at most 1000/),
    });
    expect(await factorsOf(identity)).toBeNull();
  });
});
