// Twilio's own Node SDK (the `twilio` npm package) drives Verity's REST face by changing one base
// URL: the quickstart, pagination, errors as RestException; what the SDK made is visible in GraphQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { restError, startHttpTestApp, twilioClient, type HttpTestApp } from './support/http-server.ts';
import type { Tenant } from './support/app.ts';
import { CreateService, GetChallenge, GetFactor, GetService, ListFactors } from './support/documents.ts';
import { oathCode, unix } from './support/oath.ts';

let t: HttpTestApp;
let a: Tenant;
let client: twilio.Twilio;
let n = 0;
const nextIdentity = () => `sdk-user-${String(++n).padStart(4, '0')}`;

/** The one-line move from Twilio: point the Verify domain at Verity. */
const clientFor = (sid: string, token: string) => twilioClient(t, sid, token);

beforeAll(async () => {
  t = await startHttpTestApp();
  a = await t.newAccount('SDK tenant');
  client = clientFor(a.sid, a.token);
});
afterAll(() => t?.close());

const code = (secret: string) => oathCode(secret, {}, unix(t.clock.now()));

/** A service and a verified TOTP factor, enrolled through the SDK; the clock moved past the enrolment step. */
async function enrolled(identity = nextIdentity()) {
  const service = await client.verify.v2.services.create({ friendlyName: 'Enrolled' });
  const entity = client.verify.v2.services(service.sid).entities(identity);
  const created = await entity.newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
  const secret = created.binding.secret as string;
  await entity.factors(created.sid).update({ authPayload: code(secret) });
  t.clock.advance(30_000);
  return { service, entity, identity, factorSid: created.sid, secret };
}

describe('the Twilio Verify TOTP quickstart, run by twilio-node against Verity', () => {
  it('service → new TOTP factor → verify with an oathtool code → challenge approved; GraphQL sees it all', async () => {
    const service = await client.verify.v2.services.create({ friendlyName: 'My App', 'totp.issuer': 'Acme', 'totp.skew': 1 });
    expect(service.sid).toMatch(/^VA[0-9a-f]{32}$/);
    expect(service.accountSid).toBe(a.sid);
    expect(service.totp).toEqual({ issuer: 'Acme', time_step: null, code_length: null, skew: 1 });
    expect(service.url).toBe(`${t.baseUrl}/v2/Services/${service.sid}`);
    expect(service.dateCreated).toBeInstanceOf(Date); // twilio-node parsed YYYY-MM-DDTHH:mm:ssZ

    const identity = nextIdentity();
    const entity = client.verify.v2.services(service.sid).entities(identity);
    const factor = await entity.newFactors.create({ friendlyName: 'Alice’s phone', factorType: 'totp' });
    expect(factor).toMatchObject({ status: 'unverified', factorType: 'totp', identity, serviceSid: service.sid, options: null });
    expect(factor.sid).toMatch(/^YF[0-9a-f]{32}$/);
    expect(factor.config).toEqual({ alg: 'sha1', skew: 1, code_length: 6, time_step: 30 });
    expect(Object.keys(factor.binding as object).sort()).toEqual(['secret', 'uri']);
    const secret = factor.binding.secret as string;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(factor.binding.uri).toBe(
      `otpauth://totp/Acme:Alice%E2%80%99s%20phone?secret=${secret}&issuer=Acme&algorithm=SHA1&digits=6&period=30`,
    );
    expect(factor.url).toBe(`${t.baseUrl}/v2/Services/${service.sid}/Entities/${identity}/Factors/${factor.sid}`);

    const verified = await entity.factors(factor.sid).update({ authPayload: code(secret) });
    expect(verified.status).toBe('verified');
    const fetched = await entity.factors(factor.sid).fetch();
    expect(fetched.status).toBe('verified');
    expect((fetched as unknown as Record<string, unknown>).binding).toBeUndefined(); // the seed leaves once

    t.clock.advance(30_000);
    const challenge = await entity.challenges.create({ factorSid: factor.sid, authPayload: code(secret) });
    expect(challenge).toMatchObject({ status: 'approved', factorSid: factor.sid, identity, factorType: 'totp', respondedReason: 'none' });
    expect(challenge.sid).toMatch(/^YC[0-9a-f]{32}$/);
    expect(challenge.dateResponded).toBeInstanceOf(Date);
    expect(challenge.links).toEqual({}); // no Notifications resource here: nothing advertised that answers 404
    // Every link a resource advertises answers (Twilio's own SDK lists them as sub-resources).
    const advertised = [service.links, (await entity.fetch()).links].flatMap((l) => Object.values(l as Record<string, string>));
    expect(advertised.length).toBe(5);
    for (const link of advertised) {
      const res = await fetch(link, { headers: { authorization: `Basic ${Buffer.from(`${a.sid}:${a.token}`).toString('base64')}` } });
      expect(res.status, link).toBe(200);
    }
    expect((await entity.challenges(challenge.sid).fetch()).status).toBe('approved');

    // The other face, same data: a GraphQL read of what the SDK made.
    const g = await t.ok(GetService, { sid: service.sid }, a.auth);
    expect(g.service).toMatchObject({ sid: service.sid, friendlyName: 'My App', totp: { issuer: 'Acme', skew: 1 } });
    expect((await t.ok(GetFactor, { sid: factor.sid }, a.auth)).factor).toMatchObject({
      status: 'VERIFIED',
      identity,
      friendlyName: 'Alice’s phone',
    });
    expect((await t.ok(GetChallenge, { sid: challenge.sid }, a.auth)).challenge).toMatchObject({
      status: 'APPROVED',
      factor: { sid: factor.sid },
    });
  });

  it('a wrong code is a result, not an error: the factor stays unverified, the challenge pending until a right code', async () => {
    const service = await client.verify.v2.services.create({ friendlyName: 'Wrong codes' });
    const entity = client.verify.v2.services(service.sid).entities(nextIdentity());
    const factor = await entity.newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
    const secret = factor.binding.secret as string;
    const wrong = code(secret) === '000000' ? '111111' : '000000';
    expect((await entity.factors(factor.sid).update({ authPayload: wrong })).status).toBe('unverified');
    expect((await entity.factors(factor.sid).update({ authPayload: code(secret) })).status).toBe('verified');
    t.clock.advance(30_000);
    const pending = await entity.challenges.create({
      factorSid: factor.sid,
      authPayload: wrong,
      'details.message': 'Sign in from Firefox',
    });
    expect(pending.status).toBe('pending');
    expect(pending.details).toMatchObject({ message: 'Sign in from Firefox', fields: [] });
    expect((await entity.challenges(pending.sid).update({ authPayload: code(secret) })).status).toBe('approved');
  });

  it('imports an existing seed with Binding.Secret (migration from Twilio/Authy) and takes Config.*', async () => {
    const service = await client.verify.v2.services.create({ friendlyName: 'Imported' });
    const entity = client.verify.v2.services(service.sid).entities(nextIdentity());
    const factor = await entity.newFactors.create({
      friendlyName: 'Migrated',
      factorType: 'totp',
      'binding.secret': 'jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp',
      'config.alg': 'sha256',
      'config.codeLength': 8,
      'config.timeStep': 60,
      'config.skew': 0,
      metadata: { os: 'Android' },
    });
    expect(factor.binding.secret).toBe('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    expect(factor.config).toEqual({ alg: 'sha256', skew: 0, code_length: 8, time_step: 60 });
    expect(factor.metadata).toEqual({ os: 'Android' });
    const c = oathCode('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', { alg: 'sha256', codeLength: 8, timeStep: 60 }, unix(t.clock.now()));
    expect((await entity.factors(factor.sid).update({ authPayload: c })).status).toBe('verified');
  });

  it('updates and deletes through the SDK (200 / 204), and reads what GraphQL made', async () => {
    const viaGraphql = (await t.ok(CreateService, { input: { friendlyName: 'From GraphQL', totp: { timeStep: 45 } } }, a.auth))
      .createService;
    const svc = client.verify.v2.services(viaGraphql.sid);
    expect((await svc.fetch()).totp).toEqual({ issuer: null, time_step: 45, code_length: null, skew: null });
    const updated = await svc.update({ friendlyName: 'Renamed', 'totp.codeLength': 8 });
    expect(updated).toMatchObject({ friendlyName: 'Renamed', totp: { issuer: null, time_step: 45, code_length: 8, skew: null } });

    const identity = nextIdentity();
    const entity = await svc.entities.create({ identity });
    expect(entity).toMatchObject({ identity, serviceSid: viaGraphql.sid });
    expect(entity.links).toEqual({
      factors: `${entity.url}/Factors`,
      new_factors: `${entity.url}/Factors`,
      challenges: `${entity.url}/Challenges`,
    });
    expect((await svc.entities(identity).fetch()).sid).toBe(entity.sid);

    const factor = await svc.entities(identity).newFactors.create({ friendlyName: 'Old name', factorType: 'totp' });
    expect(factor.config).toMatchObject({ time_step: 45, code_length: 8 }); // the service's defaults
    const renamed = await svc.entities(identity).factors(factor.sid).update({ friendlyName: 'New name', 'config.skew': 2 });
    expect(renamed).toMatchObject({ friendlyName: 'New name', config: { skew: 2, time_step: 45 } });
    expect(await svc.entities(identity).factors(factor.sid).remove()).toBe(true);
    expect((await restError(svc.entities(identity).factors(factor.sid).fetch())).status).toBe(404);
    expect(await svc.entities(identity).remove()).toBe(true);
    expect(await svc.remove()).toBe(true);
    expect((await t.ok(GetService, { sid: viaGraphql.sid }, a.auth)).service).toBeNull();
  });
});

describe('pagination: PageSize, PageToken and absolute meta URLs that twilio-node follows', () => {
  it('factors.list walks every page in creation order; pages link forwards and backwards', async () => {
    const service = await client.verify.v2.services.create({ friendlyName: 'Paging' });
    const identity = nextIdentity();
    const entity = client.verify.v2.services(service.sid).entities(identity);
    const sids: string[] = [];
    for (let i = 0; i < 7; i++) {
      sids.push((await entity.newFactors.create({ friendlyName: `Phone ${i}`, factorType: 'totp' })).sid);
      t.clock.advance(1000);
    }
    const all = await entity.factors.list({ pageSize: 3 });
    expect(all.map((f) => f.sid)).toEqual(sids);
    expect(all.every((f) => f.status === 'unverified' && f.url.startsWith(t.baseUrl))).toBe(true);

    const first = await entity.factors.page({ pageSize: 3 });
    expect(first.instances.map((f) => f.sid)).toEqual(sids.slice(0, 3));
    expect(first.previousPageUrl).toBeUndefined();
    expect(first.nextPageUrl).toMatch(
      new RegExp(`^${t.baseUrl}/v2/Services/${service.sid}/Entities/${identity}/Factors\\?PageSize=3&Page=1&PageToken=`),
    );
    const second = (await first.nextPage())!;
    expect(second.instances.map((f) => f.sid)).toEqual(sids.slice(3, 6));
    const third = (await second.nextPage())!;
    expect(third.instances.map((f) => f.sid)).toEqual(sids.slice(6));
    expect(third.nextPageUrl).toBeUndefined();
    const back = (await third.previousPage())!;
    expect(back.instances.map((f) => f.sid)).toEqual(sids.slice(3, 6));
    expect((await back.previousPage())!.instances.map((f) => f.sid)).toEqual(sids.slice(0, 3));

    // The raw envelope, as Twilio documents it.
    const res = await fetch(`${t.baseUrl}/v2/Services/${service.sid}/Entities/${identity}/Factors?PageSize=3`, {
      headers: { authorization: a.auth },
    });
    const body = (await res.json()) as { factors: unknown[]; meta: Record<string, unknown> };
    expect(body.factors).toHaveLength(3);
    expect(body.meta).toMatchObject({
      page: 0,
      page_size: 3,
      key: 'factors',
      previous_page_url: null,
      first_page_url: `${t.baseUrl}/v2/Services/${service.sid}/Entities/${identity}/Factors?PageSize=3&Page=0`,
      url: `${t.baseUrl}/v2/Services/${service.sid}/Entities/${identity}/Factors?PageSize=3&Page=0`,
    });
    // GraphQL counts the same seven.
    expect((await t.ok(ListFactors, { serviceSid: service.sid, identity }, a.auth)).entity?.factors.totalCount).toBe(7);
  });

  it('services, entities and challenges list too; challenge filters (Status, Order) survive paging', async () => {
    const { service, entity, factorSid, secret } = await enrolled();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await entity.challenges.create({ factorSid })).sid);
      t.clock.advance(1000);
    }
    t.clock.advance(29_000);
    await entity.challenges(made[2]!).update({ authPayload: code(secret) });
    const pending = await entity.challenges.list({ status: 'pending', pageSize: 2 });
    expect(pending.map((c) => c.sid)).toEqual([made[0], made[1], made[3], made[4]]);
    const desc = await entity.challenges.list({ order: 'desc', pageSize: 2 });
    expect(desc.map((c) => c.sid)).toEqual([...made].reverse());
    expect((await entity.challenges.list({ status: 'approved' })).map((c) => c.sid)).toEqual([made[2]]);

    const services = await client.verify.v2.services.list({ pageSize: 2 });
    expect(services.map((s) => s.sid)).toContain(service.sid);
    const entities = await client.verify.v2.services(service.sid).entities.list({ pageSize: 1 });
    expect(entities).toHaveLength(1);
  });

  it('PageSize outside 1–1000 → 60200 naming PageSize', async () => {
    for (const pageSize of [0, 1001]) {
      const e = await restError(client.verify.v2.services.page({ pageSize }));
      expect(e).toMatchObject({ status: 400, code: 60200 });
      expect(e.message).toMatch(/^Invalid parameter: PageSize/);
    }
  });
});

describe('errors surface as RestException with Twilio code and status', () => {
  it('unknown factor → 60390 / 404', async () => {
    const { entity } = await enrolled();
    const e = await restError(entity.factors(`YF${'0'.repeat(32)}`).fetch());
    expect(e).toMatchObject({ status: 404, code: 60390, moreInfo: 'https://www.twilio.com/docs/errors/60390' });
  });

  it('challenge on an unverified factor → 60318 / 403', async () => {
    const service = await client.verify.v2.services.create({ friendlyName: 'Unverified' });
    const entity = client.verify.v2.services(service.sid).entities(nextIdentity());
    const factor = await entity.newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
    expect(await restError(entity.challenges.create({ factorSid: factor.sid }))).toMatchObject({ status: 403, code: 60318 });
  });

  it('wrong auth token → 20003 / 401', async () => {
    const e = await restError(clientFor(a.sid, 'f'.repeat(64)).verify.v2.services.list());
    expect(e).toMatchObject({ status: 401, code: 20003 });
  });

  it('invalid parameter → 60200 / 400, naming the Twilio parameter', async () => {
    const service = await client.verify.v2.services.create({ friendlyName: 'Invalid' });
    const entity = client.verify.v2.services(service.sid).entities(nextIdentity());
    const e = await restError(entity.newFactors.create({ friendlyName: 'Phone', factorType: 'totp', 'config.codeLength': 9 }));
    expect(e).toMatchObject({ status: 400, code: 60200 });
    expect(e.message).toMatch(/^Invalid parameter: Config\.CodeLength: /);
    const long = await restError(client.verify.v2.services.create({ friendlyName: 'x'.repeat(31) }));
    expect(long).toMatchObject({ status: 400, code: 60200 });
    expect(long.message).toMatch(/^Invalid parameter: FriendlyName: /);
    const badSecret = await restError(
      entity.newFactors.create({ friendlyName: 'Phone', factorType: 'totp', 'binding.secret': 'not base32!' }),
    );
    expect(badSecret.message).toMatch(/^Invalid parameter: Binding\.Secret: /);
  });

  it('five wrong codes on a challenge, then → 60308 / 429', async () => {
    const { entity, factorSid, secret } = await enrolled();
    const challenge = await entity.challenges.create({ factorSid });
    const wrong = code(secret) === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) expect((await entity.challenges(challenge.sid).update({ authPayload: wrong })).status).toBe('pending');
    expect(await restError(entity.challenges(challenge.sid).update({ authPayload: code(secret) }))).toMatchObject({
      status: 429,
      code: 60308,
    });
  });

  it('answered → 60322 / 403; FactorType push → 400', async () => {
    const { entity, factorSid, secret } = await enrolled();
    const c = await entity.challenges.create({ factorSid, authPayload: code(secret) });
    expect(c.status).toBe('approved');
    expect(await restError(entity.challenges(c.sid).update({ authPayload: code(secret) }))).toMatchObject({ status: 403, code: 60322 });
    expect(await restError(entity.newFactors.create({ friendlyName: 'x', factorType: 'push' }))).toMatchObject({
      status: 400,
      code: 60369,
    });
  });
});

describe('the wire format, seen without the SDK', () => {
  const raw = (path: string, init: RequestInit = {}, auth: string | null = a.auth) =>
    fetch(`${t.baseUrl}${path}`, {
      ...init,
      headers: { ...(auth ? { authorization: auth } : {}), ...(init.headers as Record<string, string>) },
    });

  it('no credentials → 401 with WWW-Authenticate and exactly Twilio’s error keys (no type/title)', async () => {
    const res = await raw('/v2/Services', {}, null);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['code', 'message', 'more_info', 'status']);
    expect(body).toMatchObject({ code: 20003, status: 401, more_info: 'https://www.twilio.com/docs/errors/20003' });
  });

  it('create 201 with snake_case JSON and second-precision dates; delete 204 with no body', async () => {
    const res = await raw('/v2/Services', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'FriendlyName=Wire&Totp.Issuer=Wire%20Co&Totp.TimeStep=30',
    });
    expect(res.status).toBe(201);
    const s = (await res.json()) as Record<string, unknown>;
    expect(s).toMatchObject({ friendly_name: 'Wire', totp: { issuer: 'Wire Co', time_step: 30, code_length: null, skew: null } });
    expect(s.date_created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // Twilio accepts upper-case hex in SIDs.
    const del = await raw(`/v2/Services/VA${String(s.sid).slice(2).toUpperCase()}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
  });

  it('Details.Fields as repeated JSON strings, HiddenDetails as JSON', async () => {
    const { service, identity, factorSid } = await enrolled();
    const body = new URLSearchParams([
      ['FactorSid', factorSid],
      ['Details.Message', 'Approve?'],
      ['Details.Fields', JSON.stringify({ label: 'IP', value: '203.0.113.9' })],
      ['Details.Fields', JSON.stringify({ label: 'Browser', value: 'Firefox' })],
      ['HiddenDetails', JSON.stringify({ ip: '203.0.113.9' })],
    ]);
    const res = await raw(`/v2/Services/${service.sid}/Entities/${identity}/Challenges`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    expect(res.status).toBe(201);
    const c = (await res.json()) as Record<string, unknown>;
    expect(c).toMatchObject({
      status: 'pending',
      details: {
        message: 'Approve?',
        fields: [
          { label: 'IP', value: '203.0.113.9' },
          { label: 'Browser', value: 'Firefox' },
        ],
      },
      hidden_details: { ip: '203.0.113.9' },
      date_responded: null,
    });
    const bad = await raw(`/v2/Services/${service.sid}/Entities/${identity}/Challenges`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `FactorSid=${factorSid}&HiddenDetails=%7Bnope`,
    });
    expect(await bad.json()).toMatchObject({ code: 60200, status: 400, message: 'Invalid parameter: HiddenDetails: must be JSON' });
  });

  it('unknown path → 404 (20404); wrong method → 405 (20004) with Allow', async () => {
    expect(await (await raw('/v2/Nope')).json()).toMatchObject({ code: 20404, status: 404 });
    const res = await raw('/v2/Services', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, GET');
    expect(await res.json()).toMatchObject({ code: 20004, status: 405 });
  });
});
