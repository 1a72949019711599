import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateTotpFactor, GetChallenge, ListChallenges, VerifyChallenge } from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { verifiedFactor } from './support/flows.ts';

let t: TestApp;
let a: Tenant;
let sql = 0;
beforeAll(async () => {
  t = await startTestApp({}, { onQuery: () => void sql++ });
  a = await t.newAccount();
});
afterAll(() => t.close());

describe('the seed flow through GraphQL', () => {
  it('create factor → verify → challenge with a code → APPROVED; the same code again → PENDING', async () => {
    const f = await verifiedFactor(t, a);
    const code = f.code();
    const first = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)).createChallenge;
    expect(first).toMatchObject({
      status: 'APPROVED',
      respondedReason: 'NONE',
      factorType: 'TOTP',
      identity: f.identity,
      accountSid: a.sid,
    });
    expect(first.sid).toMatch(/^YC[0-9a-f]{32}$/);
    expect(first.dateResponded).not.toBeNull();
    // RFC 6238 §5.2: accepted once, on any challenge of this factor.
    const replay = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)).createChallenge;
    expect(replay.status).toBe('PENDING');
    const again = (await t.ok(VerifyChallenge, { input: { challengeSid: replay.sid, authPayload: code } }, a.auth)).verifyChallenge;
    expect(again.status).toBe('PENDING');
    t.clock.advance(30_000);
    const next = (await t.ok(VerifyChallenge, { input: { challengeSid: replay.sid, authPayload: f.code() } }, a.auth)).verifyChallenge;
    expect(next.status).toBe('APPROVED');
  });
});

describe('createChallenge', () => {
  it('needs a VERIFIED factor (60318)', async () => {
    const { serviceSid } = await verifiedFactor(t, a);
    const { createTotpFactor } = await t.ok(
      CreateTotpFactor,
      { input: { serviceSid, identity: 'unverified-01', friendlyName: 'x' } },
      a.auth,
    );
    expectError(await t.gql(CreateChallenge, { input: { factorSid: createTotpFactor.factor.sid } }, a.auth), 'FACTOR_NOT_VERIFIED', {
      twilioCode: 60318,
    });
  });

  it('defaults to +5 minutes, takes details, hiddenDetails and metadata', async () => {
    const f = await verifiedFactor(t, a);
    const now = t.clock.now();
    const c = (
      await t.ok(
        CreateChallenge,
        {
          input: {
            factorSid: f.factorSid,
            details: { message: 'Approve login?', fields: [{ label: 'IP', value: '203.0.113.9' }] },
            hiddenDetails: { ip: '203.0.113.9', nested: { ok: true } },
            metadata: { os: 'linux' },
          },
        },
        a.auth,
      )
    ).createChallenge;
    expect(c.status).toBe('PENDING');
    expect(new Date(c.expirationDate).getTime() - now.getTime()).toBe(5 * 60_000);
    expect(c.details).toMatchObject({ message: 'Approve login?', fields: [{ label: 'IP', value: '203.0.113.9' }] });
    expect(c.hiddenDetails).toEqual({ ip: '203.0.113.9', nested: { ok: true } });
    expect(c.metadata).toEqual({ os: 'linux' });
    expect(c.dateResponded).toBeNull();
  });

  it('a wrong code on creation → PENDING, not an error', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: '000000' } }, a.auth)).createChallenge;
    expect(c.status).toBe('PENDING');
  });

  it.each([
    ['expirationDate', (now: number) => ({ expirationDate: new Date(now - 1000).toISOString() })],
    ['expirationDate', (now: number) => ({ expirationDate: new Date(now + 60 * 60_000 + 1000).toISOString() })],
    ['details.message', () => ({ details: { message: 'x'.repeat(257) } })],
    ['details.fields', () => ({ details: { fields: Array.from({ length: 21 }, (_, i) => ({ label: `l${i}`, value: 'v' })) } })],
    ['details.fields.0.label', () => ({ details: { fields: [{ label: 'x'.repeat(37), value: 'v' }] } })],
    ['details.fields.0.value', () => ({ details: { fields: [{ label: 'l', value: 'x'.repeat(129) }] } })],
    ['hiddenDetails', () => ({ hiddenDetails: { x: 'y'.repeat(1020) } })],
    ['metadata.n', () => ({ metadata: { n: 2 } })],
    ['authPayload', () => ({ authPayload: '12ab' })],
  ])('limit on %s → INVALID_ARGUMENT, nothing written', async (field, over) => {
    const f = await verifiedFactor(t, a);
    const before = await t.db.prisma.challenge.count();
    const r = await t.gql(CreateChallenge, { input: { factorSid: f.factorSid, ...over(t.clock.now().getTime()) } as never }, a.auth);
    expectError(r, 'INVALID_ARGUMENT', { field, twilioCode: 60200 });
    expect(await t.db.prisma.challenge.count()).toBe(before);
  });

  it('accepts an expiration exactly 60 minutes out', async () => {
    const f = await verifiedFactor(t, a);
    const exp = new Date(t.clock.now().getTime() + 60 * 60_000).toISOString();
    expect(
      (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, expirationDate: exp } }, a.auth)).createChallenge.expirationDate,
    ).toBe(exp);
  });
});

describe('verifyChallenge', () => {
  it('approves with the right code and then answers CHALLENGE_ALREADY_RESPONDED (60322)', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    const v = (await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code(), metadata: { via: 'test' } } }, a.auth))
      .verifyChallenge;
    expect(v).toMatchObject({ status: 'APPROVED', metadata: { via: 'test' } });
    t.clock.advance(30_000);
    expectError(
      await t.gql(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth),
      'CHALLENGE_ALREADY_RESPONDED',
      { twilioCode: 60322 },
    );
  });

  it('5 wrong codes, then TOO_MANY_ATTEMPTS (60308) even for the right code', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    for (let i = 0; i < 5; i++) {
      expect((await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: '000000' } }, a.auth)).verifyChallenge.status).toBe(
        'PENDING',
      );
    }
    expectError(await t.gql(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth), 'TOO_MANY_ATTEMPTS', {
      twilioCode: 60308,
    });
  });

  it('past expiry → CHALLENGE_EXPIRED (60323), reads EXPIRED before any job runs, and EXPIRED is persisted', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    t.clock.advance(5 * 60_000);
    expect((await t.ok(GetChallenge, { sid: c.sid }, a.auth)).challenge?.status).toBe('EXPIRED');
    expect((await t.db.prisma.challenge.findUniqueOrThrow({ where: { sid: c.sid } })).status).toBe('pending');
    expectError(await t.gql(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth), 'CHALLENGE_EXPIRED', {
      twilioCode: 60323,
    });
    expect((await t.db.prisma.challenge.findUniqueOrThrow({ where: { sid: c.sid } })).status).toBe('expired');
  });

  it('unknown challenge → NOT_FOUND (60391)', async () => {
    expectError(
      await t.gql(VerifyChallenge, { input: { challengeSid: 'YC' + '0'.repeat(32), authPayload: '123456' } }, a.auth),
      'NOT_FOUND',
      { twilioCode: 60391 },
    );
  });
});

describe('guessing throttle per factor', () => {
  it('after 5 consecutive wrong codes waits grow, with retryAfter; a right code after waiting resets it', async () => {
    const f = await verifiedFactor(t, a);
    const newChallenge = async () => (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge.sid;
    let sid = await newChallenge();
    for (let i = 0; i < 5; i++) await t.ok(VerifyChallenge, { input: { challengeSid: sid, authPayload: '000000' } }, a.auth);
    sid = await newChallenge(); // a fresh challenge does not reset the factor's streak
    await t.ok(VerifyChallenge, { input: { challengeSid: sid, authPayload: '000000' } }, a.auth); // 6th: sets a 1 s wait
    const throttled = expectError(
      await t.gql(VerifyChallenge, { input: { challengeSid: sid, authPayload: f.code() } }, a.auth),
      'TOO_MANY_ATTEMPTS',
    );
    expect(throttled.extensions?.retryAfter).toBe(1);
    t.clock.advance(1000);
    await t.ok(VerifyChallenge, { input: { challengeSid: sid, authPayload: '000000' } }, a.auth); // 7th: 2 s
    const again = expectError(
      await t.gql(VerifyChallenge, { input: { challengeSid: sid, authPayload: f.code() } }, a.auth),
      'TOO_MANY_ATTEMPTS',
    );
    expect(again.extensions?.retryAfter).toBe(2);
    t.clock.advance(30_000);
    expect((await t.ok(VerifyChallenge, { input: { challengeSid: sid, authPayload: f.code() } }, a.auth)).verifyChallenge.status).toBe(
      'APPROVED',
    );
    const row = await t.db.prisma.factor.findUniqueOrThrow({ where: { sid: f.factorSid } });
    expect(row).toMatchObject({ failureStreak: 0, throttledUntil: null });
  });
});

describe('a code is accepted once, even under concurrency', () => {
  it('50 concurrent requests with the same correct code (createChallenge and verifyChallenge mixed) → exactly one approval', async () => {
    const f = await verifiedFactor(t, a);
    const pending = [];
    for (let i = 0; i < 25; i++)
      pending.push((await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge.sid);
    const code = f.code();
    const results = await Promise.all([
      ...pending.map((challengeSid) => t.gql(VerifyChallenge, { input: { challengeSid, authPayload: code } }, a.auth)),
      ...Array.from({ length: 25 }, () => t.gql(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)),
    ]);
    const approvedInResponses = results.filter((r) => {
      const d = r.data as { verifyChallenge?: { status: string }; createChallenge?: { status: string } } | null;
      return (d?.verifyChallenge ?? d?.createChallenge)?.status === 'APPROVED';
    });
    expect(approvedInResponses).toHaveLength(1);
    expect(await t.db.prisma.challenge.count({ where: { factorSid: f.factorSid, status: 'approved' } })).toBe(1);
    for (const r of results) if (r.errors) expect(r.errors[0]!.extensions?.code).toMatch(/TOO_MANY_ATTEMPTS|CHALLENGE_ALREADY_RESPONDED/);
  });
});

describe('reads', () => {
  it('entity.challenges filters by factor and status, orders both ways, and loads factors without N+1', async () => {
    const f = await verifiedFactor(t, a);
    const g = await verifiedFactor(t, a, { serviceSid: f.serviceSid, identity: f.identity });
    const sids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const factorSid = i % 2 ? g.factorSid : f.factorSid;
      sids.push((await t.ok(CreateChallenge, { input: { factorSid } }, a.auth)).createChallenge.sid);
      t.clock.advance(10);
    }
    const approved = (await t.ok(VerifyChallenge, { input: { challengeSid: sids[0]!, authPayload: f.code() } }, a.auth)).verifyChallenge;
    expect(approved.status).toBe('APPROVED');
    const q = (vars: Record<string, unknown>) => t.ok(ListChallenges, { serviceSid: f.serviceSid, identity: f.identity, ...vars }, a.auth);
    const all = (await q({})).entity!.challenges;
    expect(all.edges.map((e) => e.node.sid)).toEqual(sids);
    expect((await q({ order: 'DESC' })).entity!.challenges.edges.map((e) => e.node.sid)).toEqual([...sids].reverse());
    expect((await q({ factorSid: g.factorSid })).entity!.challenges.edges.every((e) => e.node.factorSid === g.factorSid)).toBe(true);
    expect((await q({ status: 'APPROVED' })).entity!.challenges.edges.map((e) => e.node.sid)).toEqual([sids[0]]);
    expect((await q({ status: 'PENDING' })).entity!.challenges.totalCount).toBe(5);
    t.clock.advance(6 * 60_000);
    expect((await q({ status: 'PENDING' })).entity!.challenges.totalCount).toBe(0);
    expect((await q({ status: 'EXPIRED' })).entity!.challenges.edges.map((e) => e.node.status)).toEqual(Array(5).fill('EXPIRED'));
    // Constant statements whatever the page size: factors come in one batched query.
    const count = async (first: number) => {
      sql = 0;
      const page = await q({ first });
      expect(page.entity!.challenges.edges.every((e) => e.node.factor.sid)).toBe(true);
      return sql;
    };
    expect(await count(6)).toBe(await count(2));
  });
});
