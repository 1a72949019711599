import type { ResultOf } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestApp, type TestApp, type Tenant } from './support/app.ts';
import {
  CreateAccessToken,
  CreateChallenge,
  CreateService,
  CreateTotpFactor,
  DeleteFactor,
  RotateAuthToken,
  VerifyChallenge,
  VerifyFactor,
} from './support/documents.ts';
import { AuditEvents } from './support/audit-documents.ts';
import { expectError } from './support/expect.ts';
import { verifiedFactor } from './support/flows.ts';
import { oathCode, unix } from './support/oath.ts';
import { reconcileExpiry } from '../src/services/challenge-expiry.ts';
import { recordAudit, recordAuditBatch, verifyAuditTrail, type AuditInput } from '../src/services/audit.ts';
import { appendAccountAuditEvents } from '../src/db/audit-store.ts';
import { canonicalJson, type AuditContent } from '../src/domain/audit.ts';
import { newSid } from '../src/domain/sid.ts';

let t: TestApp;
let a: Tenant;
let b: Tenant;
beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount('Audit A');
  b = await t.newAccount('Audit B');
});
afterAll(() => t.close());

/** The account's events, oldest first, as the API returns them (all pages). */
type Node = ResultOf<typeof AuditEvents>['auditEvents']['edges'][number]['node'];

async function events(tenant: Tenant, vars: { serviceSid?: string; type?: string } = {}): Promise<Node[]> {
  const out: Node[] = [];
  let after: string | null = null;
  for (;;) {
    const r: ResultOf<typeof AuditEvents>['auditEvents'] = (
      await t.ok(AuditEvents, { ...vars, first: 7, after, order: 'ASC' }, tenant.auth)
    ).auditEvents;
    out.push(...r.edges.map((e) => e.node));
    if (!r.pageInfo.hasNextPage) return out;
    after = r.pageInfo.endCursor!;
  }
}

const lastSeq = async (tenant: Tenant) => Number((await t.ok(AuditEvents, { first: 1 }, tenant.auth)).auditEvents.edges[0]?.node.seq ?? 0);
const since = async (tenant: Tenant, seq: number) => (await events(tenant)).filter((e) => Number(e.seq) > seq);
const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe('security events are recorded', () => {
  it('account created by the operator, then its token rotated', async () => {
    const [created] = await events(a);
    expect(created).toMatchObject({
      seq: '1',
      type: 'account.created',
      actor: 'operator',
      accountSid: a.sid,
      details: { friendlyName: 'Audit A' },
    });
    expect(created!.prevHash).toBe('0'.repeat(64));
    const c = await t.newAccount('Rotating');
    const rotated = await t.ok(RotateAuthToken, { input: { graceSeconds: 60 } }, c.auth);
    const [, ev] = await events({
      ...c,
      auth: c.auth.replace(/ .*/, ' ') + Buffer.from(`${c.sid}:${rotated.rotateAuthToken.authToken}`).toString('base64'),
    });
    expect(ev).toMatchObject({ seq: '2', type: 'account.token_rotated', actor: 'account', details: { graceSeconds: 60 } });
    expect(ev!.prevHash).not.toBe('0'.repeat(64));
    // The new token is never in the trail.
    expect(JSON.stringify(ev)).not.toContain(rotated.rotateAuthToken.authToken);
    // The operator rotating it shows as the operator.
    await t.ok(RotateAuthToken, { input: { accountSid: c.sid } }, `Bearer ${ADMIN_TOKEN}`);
    const rows = await t.db.prisma.auditEvent.findMany({ where: { accountSid: c.sid }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => [r.type, r.actor])).toEqual([
      ['account.created', 'operator'],
      ['account.token_rotated', 'account'],
      ['account.token_rotated', 'operator'],
    ]);
  });

  it('access token issued (by the account), and what the token then does is done by access_token:<identity>', async () => {
    const from = await lastSeq(a);
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Browser' } }, a.auth)).createService.sid;
    const { createAccessToken: at } = await t.ok(
      CreateAccessToken,
      { input: { serviceSid, identity: 'audit-browser', ttlSeconds: 120 } },
      a.auth,
    );
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: 'audit-browser', friendlyName: 'Phone' } }, `Bearer ${at.token}`);
    const got = await since(a, from);
    expect(got.map((e) => [e.type, e.actor])).toEqual([
      ['access_token.issued', 'account'],
      ['factor.created', 'access_token:audit-browser'],
    ]);
    expect(got[0]).toMatchObject({ serviceSid, details: { identity: 'audit-browser', ttlSeconds: 120 } });
    expect(JSON.stringify(got)).not.toContain(at.token); // the token itself never reaches the trail
  });

  it('factor created / verification failed / verified / deleted, with its subjects and never a code or seed', async () => {
    const from = await lastSeq(a);
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Audit' } }, a.auth)).createService.sid;
    const { createTotpFactor: f } = await t.ok(
      CreateTotpFactor,
      { input: { serviceSid, identity: 'audit-user-1', friendlyName: 'Phone' } },
      a.auth,
    );
    const code = oathCode(f.binding.secret, {}, unix(t.clock.now()));
    await t.ok(VerifyFactor, { input: { factorSid: f.factor.sid, authPayload: wrongCode(code) } }, a.auth);
    await t.ok(VerifyFactor, { input: { factorSid: f.factor.sid, authPayload: code } }, a.auth);
    await t.ok(DeleteFactor, { sid: f.factor.sid }, a.auth);
    const got = await since(a, from);
    const subject = { serviceSid, factorSid: f.factor.sid, entitySid: expect.stringMatching(/^YE/), challengeSid: null, actor: 'account' };
    expect(got).toMatchObject([
      {
        type: 'factor.created',
        ...subject,
        details: { identity: 'audit-user-1', imported: false, alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1 },
      },
      { type: 'factor.verification_failed', ...subject, details: { identity: 'audit-user-1', reason: 'wrong_code' } },
      { type: 'factor.verified', ...subject },
      { type: 'factor.deleted', ...subject },
    ]);
    expect(got.map((e) => Number(e.seq))).toEqual([from + 1, from + 2, from + 3, from + 4]);
    const text = JSON.stringify(got);
    for (const secret of [f.binding.secret, code, wrongCode(code)]) expect(text).not.toContain(secret);
  });

  it('challenge approved / failed (replayed, wrong) / throttled / expired', async () => {
    const f = await verifiedFactor(t, a, { identity: 'audit-user-2' });
    const from = await lastSeq(a);
    const code = f.code();
    const approved = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)).createChallenge;
    const replay = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)).createChallenge;
    for (let i = 0; i < 4; i++) await t.ok(VerifyChallenge, { input: { challengeSid: replay.sid, authPayload: wrongCode(code) } }, a.auth);
    // The sixth consecutive wrong code (on a new challenge: that one is spent) starts the factor
    // throttle; the seventh is refused without being checked.
    const other = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    await t.ok(VerifyChallenge, { input: { challengeSid: other.sid, authPayload: wrongCode(code) } }, a.auth);
    const refused = await t.gql(VerifyChallenge, { input: { challengeSid: other.sid, authPayload: wrongCode(code) } }, a.auth);
    expectError(refused, 'TOO_MANY_ATTEMPTS');
    // Both pending challenges pass their expiration; the drain expires them (one audit batch).
    t.clock.advance(10 * 60_000);
    expect(await reconcileExpiry(t.deps)).toBeGreaterThanOrEqual(2);

    const got = await since(a, from);
    const on = (c: { sid: string }) => ({
      challengeSid: c.sid,
      factorSid: f.factorSid,
      serviceSid: f.serviceSid,
      entitySid: expect.stringMatching(/^YE/),
    });
    expect(got.map((e) => e.type)).toEqual([
      'challenge.approved',
      'challenge.failed',
      'challenge.failed',
      'challenge.failed',
      'challenge.failed',
      'challenge.failed',
      'challenge.failed',
      'challenge.throttled',
      'challenge.expired',
      'challenge.expired',
    ]);
    expect(got[0]).toMatchObject({ ...on(approved), actor: 'account', details: { identity: 'audit-user-2' } });
    // A replayed code counts as a wrong one (RFC 6238 §5.2).
    expect(got[1]).toMatchObject({ ...on(replay), details: { reason: 'wrong_code' } });
    expect(got[2]).toMatchObject({ ...on(replay), details: { reason: 'wrong_code' } });
    expect(got[6]).toMatchObject({ ...on(other), details: { reason: 'wrong_code' } });
    expect(got[7]).toMatchObject({ ...on(other), details: { retryAfter: expect.any(Number) } });
    expect(
      got
        .slice(8)
        .map((e) => [e.challengeSid, e.actor])
        .sort(),
    ).toEqual(
      [
        [other.sid, 'system'],
        [replay.sid, 'system'],
      ].sort(),
    );
    expect(JSON.stringify(got)).not.toContain(code);
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: a.sid })).toEqual({ ok: true, events: await lastSeq(a), chains: 1 });
  });

  it('verifyChallenge on an overdue challenge records its expiry once', async () => {
    const f = await verifiedFactor(t, a, { identity: 'audit-user-3' });
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    const from = await lastSeq(a);
    t.clock.advance(6 * 60_000);
    expectError(await t.gql(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth), 'CHALLENGE_EXPIRED');
    expectError(await t.gql(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth), 'CHALLENGE_EXPIRED');
    await reconcileExpiry(t.deps);
    expect((await since(a, from)).map((e) => [e.type, e.challengeSid, e.actor])).toEqual([['challenge.expired', c.sid, 'system']]);
  });
});

describe('auditEvents', () => {
  it('lists newest first by default, pages without gaps or repeats, filters by type and serviceSid', async () => {
    const all = await events(a);
    expect(all.map((e) => Number(e.seq))).toEqual(all.map((_, i) => i + 1));
    const newest = (await t.ok(AuditEvents, { first: 3 }, a.auth)).auditEvents;
    expect(newest.edges.map((e) => e.node.seq)).toEqual(
      all
        .slice(-3)
        .reverse()
        .map((e) => e.seq),
    );
    expect(newest.totalCount).toBe(all.length);
    const next = (await t.ok(AuditEvents, { first: 3, after: newest.pageInfo.endCursor }, a.auth)).auditEvents;
    expect(next.edges.map((e) => e.node.seq)).toEqual(
      all
        .slice(-6, -3)
        .reverse()
        .map((e) => e.seq),
    );

    const failed = await events(a, { type: 'challenge.failed' });
    expect(failed.length).toBe(all.filter((e) => e.type === 'challenge.failed').length);
    expect(failed.length).toBeGreaterThan(0);
    const serviceSid = all.find((e) => e.type === 'factor.created')!.serviceSid!;
    const inService = await events(a, { serviceSid: serviceSid.toUpperCase().replace(/^VA/, 'VA') });
    expect(inService.map((e) => e.seq)).toEqual(all.filter((e) => e.serviceSid === serviceSid).map((e) => e.seq));
    expect((await t.ok(AuditEvents, { type: 'challenge.failed', serviceSid, first: 1 }, a.auth)).auditEvents.totalCount).toBe(0);
  });

  it('refuses unknown types, malformed SIDs and foreign cursors; account credentials only', async () => {
    expectError(await t.gql(AuditEvents, { type: 'challenge.nope' }, a.auth), 'INVALID_ARGUMENT', { field: 'type' });
    expectError(await t.gql(AuditEvents, { serviceSid: 'VA123' }, a.auth), 'INVALID_ARGUMENT', { field: 'serviceSid' });
    expectError(await t.gql(AuditEvents, { first: 0 }, a.auth), 'INVALID_ARGUMENT', { field: 'first' });
    expectError(await t.gql(AuditEvents, {}, `Bearer ${ADMIN_TOKEN}`), 'FORBIDDEN');
    expectError(await t.gql(AuditEvents, {}, null), 'UNAUTHENTICATED');
    const aCursor = (await t.ok(AuditEvents, { first: 1 }, a.auth)).auditEvents.pageInfo.endCursor!;
    expectError(await t.gql(AuditEvents, { after: aCursor }, b.auth), 'INVALID_ARGUMENT', { field: 'after' });
  });

  it('shows each tenant only its own chain', async () => {
    const bService = (await t.ok(CreateService, { input: { friendlyName: 'B' } }, b.auth)).createService.sid;
    await t.ok(CreateTotpFactor, { input: { serviceSid: bService, identity: 'audit-user-b', friendlyName: 'x' } }, b.auth);
    const bEvents = await events(b);
    expect(bEvents.map((e) => e.type)).toEqual(['account.created', 'factor.created']);
    expect(bEvents.every((e) => e.accountSid === b.sid)).toBe(true);
    const aService = (await events(a)).find((e) => e.serviceSid)!.serviceSid!;
    expect((await t.ok(AuditEvents, { serviceSid: aService }, b.auth)).auditEvents.totalCount).toBe(0);
    expect((await events(a)).some((e) => e.accountSid !== a.sid)).toBe(false);
  });
});

describe('concurrent appends to one chain', () => {
  it('50 concurrent wrong-code createChallenge: 50 events on consecutive seqs, the chain verifies', async () => {
    const c = await t.newAccount('Concurrent');
    const f = await verifiedFactor(t, c);
    const from = await lastSeq(c);
    const wrong = wrongCode(f.code());
    const results = await Promise.all(
      Array.from({ length: 50 }, () => t.gql(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: wrong } }, c.auth)),
    );
    const refused = results.filter((r) => r.errors?.[0]?.extensions?.code === 'TOO_MANY_ATTEMPTS').length;
    await t.deps.auditLog.flush(c.sid); // a login's event is committed with it, in the inbox; the seal links it moments later
    const rows = await t.db.prisma.auditEvent.findMany({ where: { accountSid: c.sid, seq: { gt: from } }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 50 }, (_, i) => from + 1 + i));
    // Five free wrong codes plus the one that starts the throttle are checked; the rest are refused unchecked.
    expect(rows.filter((r) => r.type === 'challenge.failed').length).toBe(6);
    expect(rows.filter((r) => r.type === 'challenge.throttled').length).toBe(refused);
    expect(refused).toBe(44);
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: c.sid })).toMatchObject({ ok: true, events: from + 50 });
  });

  it('single appends and batches racing on two chains interleave without sharing a predecessor', async () => {
    const c = await t.newAccount('Race C');
    const d = await t.newAccount('Race D');
    const ev = (accountSid: string, i: number): AuditInput => ({ type: 'challenge.expired', accountSid, actor: 'system', details: { i } });
    const batch = (k: number) => Array.from({ length: 30 }, (_, i) => ev(i % 2 ? c.sid : d.sid, 1000 * k + i));
    await Promise.all([
      ...Array.from({ length: 60 }, (_, i) => recordAudit(t.deps, ev(i % 3 ? c.sid : d.sid, i))),
      recordAuditBatch(t.deps, batch(1)),
      recordAuditBatch(t.deps, batch(2)),
    ]);
    for (const [tenant, n] of [
      [c, 1 + 40 + 30],
      [d, 1 + 20 + 30],
    ] as const) {
      const rows = await t.db.prisma.auditEvent.findMany({ where: { accountSid: tenant.sid }, orderBy: { seq: 'asc' } });
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(await verifyAuditTrail(t.db.prisma, { accountSid: tenant.sid })).toEqual({ ok: true, events: n, chains: 1 });
    }
  });
});

describe('group commit: a batch of one account in one statement', () => {
  it('stores every field as given (nulls, details, each its own dateCreated) and links from the current head', async () => {
    const c = await t.newAccount('Batch');
    const from = await lastSeq(c);
    const base = new Date('2026-11-30T07:00:00.123Z').getTime();
    const contents = Array.from({ length: 5 }, (_, i): AuditContent => ({
      sid: newSid('auditEvent'),
      accountSid: c.sid,
      type: 'challenge.failed',
      serviceSid: i % 2 ? null : 'VA' + '1'.repeat(32),
      entitySid: null,
      factorSid: i === 3 ? 'YF' + '2'.repeat(32) : null,
      challengeSid: null,
      actor: 'system',
      details: i === 1 ? null : canonicalJson({ i, identity: 'ü\u2028"x' }),
      dateCreated: new Date(base + i),
    }));
    expect(await appendAccountAuditEvents(t.db.prisma, c.sid, contents)).toBe(true);
    const rows = await t.db.prisma.auditEvent.findMany({ where: { accountSid: c.sid, seq: { gt: from } }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5].map((i) => from + i));
    rows.forEach((r, i) =>
      expect({ ...r, seq: undefined, prevHash: undefined, hash: undefined }).toEqual({
        ...contents[i],
        seq: undefined,
        prevHash: undefined,
        hash: undefined,
      }),
    );
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: c.sid })).toMatchObject({ ok: true, events: from + 5 });
  });

  it('writes nothing and says so for an account without a chain head (the caller then creates it)', async () => {
    const sid = newSid('account');
    const e: AuditContent = {
      sid: newSid('auditEvent'),
      accountSid: sid,
      type: 'challenge.failed',
      serviceSid: null,
      entitySid: null,
      factorSid: null,
      challengeSid: null,
      actor: 'system',
      details: null,
      dateCreated: new Date(),
    };
    expect(await appendAccountAuditEvents(t.db.prisma, sid, [e, { ...e, sid: newSid('auditEvent') }])).toBe(false);
    expect(await t.db.prisma.auditEvent.count({ where: { accountSid: sid } })).toBe(0);
  });

  it('200 concurrent recordAudit of one account (single appends and batches) keep one unbroken chain', async () => {
    const c = await t.newAccount('Burst');
    const from = await lastSeq(c);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        recordAudit(t.deps, { type: 'challenge.failed', accountSid: c.sid, actor: 'system', details: { i } }),
      ),
    );
    const rows = await t.db.prisma.auditEvent.findMany({ where: { accountSid: c.sid, seq: { gt: from } }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 200 }, (_, i) => from + 1 + i));
    expect(new Set(rows.map((r) => r.details)).size).toBe(200);
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: c.sid })).toMatchObject({ ok: true, events: from + 200 });
  });
});

describe('append-only', () => {
  it('the database refuses to update, delete or truncate audit rows', async () => {
    const row = (await t.db.prisma.auditEvent.findFirst({ where: { accountSid: a.sid } }))!;
    await expect(t.db.prisma.auditEvent.update({ where: { sid: row.sid }, data: { type: 'factor.created' } })).rejects.toThrow(
      /append-only/,
    );
    await expect(t.db.prisma.auditEvent.deleteMany({ where: { accountSid: a.sid } })).rejects.toThrow(/append-only/);
    await expect(t.db.prisma.$executeRawUnsafe('TRUNCATE "AuditEvent"')).rejects.toThrow(/append-only/);
    expect(await verifyAuditTrail(t.db.prisma)).toMatchObject({ ok: true });
  });
});
