import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import {
  CreateService,
  CreateTotpFactor,
  DeleteFactor,
  GetEntity,
  GetFactor,
  ListFactors,
  UpdateFactor,
  VerifyFactor,
} from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { oathCode, unix } from './support/oath.ts';
import { decodeQrSvg } from './support/qr-decode.ts';

let t: TestApp;
let a: Tenant;
let serviceSid: string;
let n = 0;
const nextIdentity = () => `user-${String(++n).padStart(4, '0')}`;

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount();
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Factors', totp: { issuer: 'Acme Corp' } } }, a.auth)).createService.sid;
});
afterAll(() => t.close());

const create = (input: Record<string, unknown> = {}) =>
  t.ok(CreateTotpFactor, { input: { serviceSid, identity: nextIdentity(), friendlyName: 'Phone', ...input } as never }, a.auth);

describe('createTotpFactor', () => {
  it('creates the entity if missing and returns the binding once', async () => {
    const identity = nextIdentity();
    const { createTotpFactor: r } = await create({ identity, friendlyName: 'John’s Account Name' });
    expect(r.factor).toMatchObject({ identity, status: 'UNVERIFIED', factorType: 'TOTP', accountSid: a.sid, serviceSid });
    expect(r.factor.sid).toMatch(/^YF[0-9a-f]{32}$/);
    expect(r.factor.config).toEqual({ alg: 'SHA1', skew: 1, codeLength: 6, timeStep: 30 });
    expect(r.factor.compatibilityWarnings).toEqual([]);
    expect(r.binding.secret).toMatch(/^[A-Z2-7]{32}$/); // 20 bytes, Base32, no padding
    expect(r.binding.uri).toBe(
      `otpauth://totp/Acme%20Corp:John%E2%80%99s%20Account%20Name?secret=${r.binding.secret}&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30`,
    );
    expect(decodeQrSvg(r.binding.qrCodeSvg)).toBe(r.binding.uri);
    expect((await t.ok(GetEntity, { serviceSid, identity }, a.auth)).entity?.sid).toBe(r.factor.entitySid);
  });

  it('resolves config: factor input → service defaults → SHA1/6/30 s/skew 1', async () => {
    const svc = (await t.ok(CreateService, { input: { friendlyName: 'Defaults', totp: { timeStep: 60, codeLength: 8, skew: 2 } } }, a.auth))
      .createService.sid;
    const fromService = await t.ok(CreateTotpFactor, { input: { serviceSid: svc, identity: nextIdentity(), friendlyName: 'x' } }, a.auth);
    expect(fromService.createTotpFactor.factor.config).toEqual({ alg: 'SHA1', timeStep: 60, codeLength: 8, skew: 2 });
    expect(fromService.createTotpFactor.binding.uri).toContain('issuer=Defaults&algorithm=SHA1&digits=8&period=60');
    const fromInput = await t.ok(
      CreateTotpFactor,
      {
        input: {
          serviceSid: svc,
          identity: nextIdentity(),
          friendlyName: 'x',
          config: { alg: 'SHA256', timeStep: 30, codeLength: 6, skew: 0 },
        },
      },
      a.auth,
    );
    expect(fromInput.createTotpFactor.factor.config).toEqual({ alg: 'SHA256', timeStep: 30, codeLength: 6, skew: 0 });
    expect(fromInput.createTotpFactor.factor.compatibilityWarnings.map((w) => w.code)).toEqual(['NON_SHA1_ALGORITHM']);
  });

  it('imports a Base32 secret, tolerating case, spaces and padding', async () => {
    const { createTotpFactor: r } = await create({ secret: 'gezd gnbv gy3t qojq gezd gnbv gy3t qojq====' });
    expect(r.binding.secret).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  it.each([
    ['invalid characters', 'GEZDGNBVGY3TQOJQ1890GEZDGNBVGY3T'],
    ['15 bytes', 'GEZDGNBVGY3TQOJQGEZDGNBV'],
    ['empty', ''],
  ])('rejects a secret with %s → INVALID_ARGUMENT', async (_n, secret) => {
    const before = await t.db.prisma.factor.count();
    const r = await t.gql(CreateTotpFactor, { input: { serviceSid, identity: nextIdentity(), friendlyName: 'x', secret } }, a.auth);
    expectError(r, 'INVALID_ARGUMENT', { field: 'secret', twilioCode: 60200 });
    expect(await t.db.prisma.factor.count()).toBe(before);
  });

  it('the same seed twice on one entity → CONFLICT (60317); on another entity it is fine', async () => {
    const identity = nextIdentity();
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    await create({ identity, secret });
    expectError(await t.gql(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'again', secret } }, a.auth), 'CONFLICT', {
      twilioCode: 60317,
    });
    await create({ secret });
  });

  it('at most 100 TOTP factors per entity (60315), also under concurrency', async () => {
    const identity = nextIdentity();
    await Promise.all(
      Array.from({ length: 104 }, () => t.gql(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'many' } }, a.auth)),
    ).then((results) => {
      const limited = results.filter((r) => r.errors?.[0]?.extensions?.code === 'FACTOR_LIMIT_REACHED');
      expect(limited).toHaveLength(4);
      expect(limited[0]!.errors![0]!.extensions!.twilioCode).toBe(60315);
    });
    expect((await t.ok(ListFactors, { serviceSid, identity }, a.auth)).entity?.factors.totalCount).toBe(100);
  });

  it.each([
    ['friendlyName', { friendlyName: 'x'.repeat(65) }],
    ['friendlyName', { friendlyName: ' ' }],
    ['identity', { identity: 'short' }],
    ['config.timeStep', { config: { timeStep: 15 } }],
    ['config.codeLength', { config: { codeLength: 9 } }],
    ['config.skew', { config: { skew: 3 } }],
    ['metadata.n', { metadata: { n: 1 } }],
    ['metadata', { metadata: { big: 'x'.repeat(1020) } }],
  ])('limit on %s → INVALID_ARGUMENT', async (field, over) => {
    const r = await t.gql(CreateTotpFactor, { input: { serviceSid, identity: nextIdentity(), friendlyName: 'x', ...over } }, a.auth);
    expectError(r, 'INVALID_ARGUMENT', { field });
  });

  it('accepts metadata of string values', async () => {
    const { createTotpFactor: r } = await create({ metadata: { os: 'Android', app: 'Aegis' } });
    expect(r.factor.metadata).toEqual({ os: 'Android', app: 'Aegis' });
  });
});

describe('verifyFactor', () => {
  it('a code computed by oathtool from the QR secret verifies the factor', async () => {
    const { createTotpFactor: r } = await create({ config: { alg: 'SHA512', codeLength: 8, timeStep: 60 } });
    const code = oathCode(r.binding.secret, { alg: 'sha512', codeLength: 8, timeStep: 60 }, unix(t.clock.now()));
    const { verifyFactor } = await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: code } }, a.auth);
    expect(verifyFactor.status).toBe('VERIFIED');
  });

  it('accepts codes within the skew window only', async () => {
    const { createTotpFactor: r } = await create({ config: { skew: 1 } });
    const now = unix(t.clock.now());
    const tooOld = oathCode(r.binding.secret, {}, now - 60);
    expect((await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: tooOld } }, a.auth)).verifyFactor.status).toBe(
      'UNVERIFIED',
    );
    const previous = oathCode(r.binding.secret, {}, now - 30);
    expect((await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: previous } }, a.auth)).verifyFactor.status).toBe(
      'VERIFIED',
    );
  });

  it('a wrong code is a result, not an error; after 5 wrong codes → TOO_MANY_ATTEMPTS (60310), even with the right code', async () => {
    const { createTotpFactor: r } = await create();
    for (let i = 0; i < 5; i++) {
      const res = await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: '000000' } }, a.auth);
      expect(res.verifyFactor.status).toBe('UNVERIFIED');
    }
    const right = oathCode(r.binding.secret, {}, unix(t.clock.now()));
    const err = expectError(
      await t.gql(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: right } }, a.auth),
      'TOO_MANY_ATTEMPTS',
      { twilioCode: 60310 },
    );
    expect(err.message).toMatch(/new factor/);
    expect((await t.ok(GetFactor, { sid: r.factor.sid }, a.auth)).factor?.status).toBe('UNVERIFIED');
  });

  it('verifying an already verified factor changes nothing', async () => {
    const { createTotpFactor: r } = await create();
    const code = oathCode(r.binding.secret, {}, unix(t.clock.now()));
    const first = (await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: code } }, a.auth)).verifyFactor;
    t.clock.advance(5000);
    const again = (await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: '123456' } }, a.auth)).verifyFactor;
    expect(again).toEqual(first);
  });

  it.each(['12', '123456789', 'abcdef', '12 34'])('authPayload %j → INVALID_ARGUMENT', async (authPayload) => {
    const { createTotpFactor: r } = await create();
    expectError(await t.gql(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'authPayload',
    });
  });
});

describe('factor management', () => {
  it('reads, lists with Relay pagination, updates, deletes', async () => {
    const identity = nextIdentity();
    const sids: string[] = [];
    for (let i = 0; i < 5; i++) sids.push((await create({ identity, friendlyName: `F${i}` })).createTotpFactor.factor.sid);
    const seen: string[] = [];
    let after: string | null | undefined = null;
    do {
      const page: Awaited<ReturnType<typeof t.ok<any, any>>> = await t.ok(ListFactors, { serviceSid, identity, first: 2, after }, a.auth);
      seen.push(...page.entity.factors.edges.map((e: { node: { sid: string } }) => e.node.sid));
      after = page.entity.factors.pageInfo.hasNextPage ? page.entity.factors.pageInfo.endCursor : undefined;
    } while (after);
    expect(seen).toEqual(sids);

    const { updateFactor } = await t.ok(
      UpdateFactor,
      { input: { factorSid: sids[0]!, friendlyName: 'Renamed', config: { codeLength: 8 }, metadata: { k: 'v' } } },
      a.auth,
    );
    expect(updateFactor).toMatchObject({
      friendlyName: 'Renamed',
      config: { codeLength: 8, timeStep: 30, skew: 1, alg: 'SHA1' },
      metadata: { k: 'v' },
    });
    expect((await t.ok(UpdateFactor, { input: { factorSid: sids[0]!, metadata: null } }, a.auth)).updateFactor.metadata).toBeNull();
    expectError(await t.gql(UpdateFactor, { input: { factorSid: sids[0]!, config: { skew: 9 } } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'config.skew',
    });

    expect((await t.ok(DeleteFactor, { sid: sids[0]! }, a.auth)).deleteFactor.deletedSid).toBe(sids[0]);
    expect((await t.ok(GetFactor, { sid: sids[0]! }, a.auth)).factor).toBeNull();
    expectError(await t.gql(DeleteFactor, { sid: sids[0]! }, a.auth), 'NOT_FOUND', { twilioCode: 60390 });
  });

  it('changing timeStep keeps used codes unusable (RFC 6238 §5.2)', async () => {
    const { createTotpFactor: r } = await create();
    const now = unix(t.clock.now());
    await t.ok(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: oathCode(r.binding.secret, {}, now) } }, a.auth);
    await t.ok(UpdateFactor, { input: { factorSid: r.factor.sid, config: { timeStep: 20 } } }, a.auth);
    const row = await t.db.prisma.factor.findUniqueOrThrow({ where: { sid: r.factor.sid } });
    // Every 20 s step that overlaps the used 30 s step is used up too.
    const usedEnd = (Math.floor(now / 30) + 1) * 30 - 1;
    expect(Number(row.lastUsedTimeStep)).toBe(Math.floor(usedEnd / 20));
  });
});

describe('secrets never leave', () => {
  it('the Factor type has no field that could carry the seed', async () => {
    const res = await t.app.fetch('http://verity.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: a.auth },
      body: JSON.stringify({ query: '{ __type(name: "Factor") { fields { name } } }' }),
    });
    const fields = ((await res.json()) as any).data.__type.fields.map((f: { name: string }) => f.name);
    expect(fields.filter((f: string) => /secret|seed|binding|cipher|fingerprint|uri/i.test(f))).toEqual([]);
  });

  it('the factor table holds no plaintext seed (raw bytes, Base32 or hex)', async () => {
    const { createTotpFactor: r } = await create();
    const secret = r.binding.secret;
    const rows = await t.db.prisma.$queryRawUnsafe<Record<string, unknown>[]>('SELECT * FROM "Factor"');
    const dump = JSON.stringify(rows, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
    );
    const raw = Buffer.from(decodeBase32(secret));
    expect(dump).not.toContain(secret);
    expect(dump.toLowerCase()).not.toContain(raw.toString('hex'));
    expect(dump).not.toContain(raw.toString('latin1'));
    expect(dump).not.toContain(raw.toString('base64'));
  });

  it('a wrong key gives a clear error, never an accepted code', async () => {
    const { createTotpFactor: r } = await create();
    const code = oathCode(r.binding.secret, {}, unix(t.clock.now()));
    const good = t.deps.keyring;
    t.deps.keyring = { primaryId: good.primaryId, keys: new Map([[good.primaryId, new Uint8Array(32)]]) };
    try {
      const err = expectError(
        await t.gql(VerifyFactor, { input: { factorSid: r.factor.sid, authPayload: code } }, a.auth),
        'SEED_UNAVAILABLE',
      );
      expect(err.message).toMatch(/VERITY_ENCRYPTION_KEYS/);
    } finally {
      t.deps.keyring = good;
    }
    expect((await t.ok(GetFactor, { sid: r.factor.sid }, a.auth)).factor?.status).toBe('UNVERIFIED');
  });
});

function decodeBase32(s: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of s) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}
