// Recovery codes (a Verity extension) through GraphQL and REST, in-process on a real database: the format and
// its entropy, a new set replacing the old, a code accepted once under a race, wrong codes as
// results, the per-entity guessing throttle on the test clock, tenancy, who may call, events, and
// that no code is ever stored, logged, audited or announced in plaintext.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../src/client/gql/index.ts';
import { ADMIN_TOKEN, startTestApp, basic, type TestApp, type Tenant } from './support/app.ts';
import { CreateAccessToken, CreateEntity, CreateService, CreateWebhook, GetEntity, RotateAuthToken } from './support/documents.ts';
import { expectError } from './support/expect.ts';
import { createLogger } from '../src/logger.ts';
import { CROCKFORD_ALPHABET, RECOVERY_CODE_BITS, newRecoveryCodeSet, normalizeRecoveryCode } from '../src/domain/recovery-code.ts';
import { THROTTLE, throttleDelaySeconds } from '../src/domain/throttle.ts';
import { recordBus, waitUntil, WAIT_MS } from './support/live.ts';

const GenerateRecoveryCodes = graphql(`
  mutation GenerateRecoveryCodes($input: GenerateRecoveryCodesInput!) {
    generateRecoveryCodes(input: $input) {
      codes
      entity {
        sid
        identity
        recoveryCodesRemaining
      }
    }
  }
`);

const RedeemRecoveryCode = graphql(`
  mutation RedeemRecoveryCode($input: RedeemRecoveryCodeInput!) {
    redeemRecoveryCode(input: $input) {
      valid
      remaining
    }
  }
`);

const EntityRecoveryCodes = graphql(`
  query EntityRecoveryCodes($serviceSid: ID!, $identity: String!) {
    entity(serviceSid: $serviceSid, identity: $identity) {
      sid
      recoveryCodesRemaining
    }
  }
`);

const lines: string[] = [];
const logger = createLogger('trace', { write: (s: string) => void lines.push(s) });

let t: TestApp;
let a: Tenant;
let serviceSid: string;
let seq = 0;
/** A fresh identity per test, so each starts with no codes and a clean throttle. */
const identity = () => `user-recovery-${++seq}`;

beforeAll(async () => {
  t = await startTestApp({ VERITY_WEBHOOK_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'trace' }, { logger });
  a = await t.newAccount('Recovery');
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Recovery' } }, a.auth)).createService.sid;
});
afterAll(() => t?.close());

const generate = async (id: string, auth = a.auth, service = serviceSid) =>
  (await t.ok(GenerateRecoveryCodes, { input: { serviceSid: service, identity: id } }, auth)).generateRecoveryCodes;
const redeem = (id: string, code: string, auth = a.auth, service = serviceSid) =>
  t.gql(RedeemRecoveryCode, { input: { serviceSid: service, identity: id, code } }, auth);
const redeemOk = async (id: string, code: string) => {
  const r = await redeem(id, code);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!.redeemRecoveryCode;
};
const remaining = async (id: string) =>
  (await t.ok(EntityRecoveryCodes, { serviceSid, identity: id }, a.auth)).entity?.recoveryCodesRemaining;
/** A syntactically valid code that is not in any set (2^-50 chance of a clash). */
const WRONG = 'ZZZZZ-ZZZZZ';

describe('generation: 10 readable codes of ≥ 50 bits, shown once', () => {
  it('gives 10 distinct XXXXX-XXXXX codes in Crockford Base32 (50 bits each); the entity counts them', async () => {
    const id = identity();
    const r = await generate(id);
    expect(r.codes).toHaveLength(10);
    expect(new Set(r.codes).size).toBe(10);
    const alphabet = `[${CROCKFORD_ALPHABET}]`;
    for (const c of r.codes) expect(c).toMatch(new RegExp(`^${alphabet}{5}-${alphabet}{5}$`));
    expect(RECOVERY_CODE_BITS).toBeGreaterThanOrEqual(50);
    expect(r.entity).toMatchObject({ identity: id, recoveryCodesRemaining: 10 });
    expect(await remaining(id)).toBe(10);
  });

  it('draws characters uniformly: over many sets every character of the alphabet appears at about 1/32', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 200; i++)
      for (const c of newRecoveryCodeSet()) for (const ch of c.replace('-', '')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    // 20 000 characters: each expected 625 times (σ ≈ 25); a missing or doubled character would be far outside this band.
    expect([...counts.keys()].sort().join('')).toBe([...CROCKFORD_ALPHABET].sort().join(''));
    for (const n of counts.values()) expect(n).toBeGreaterThan(475);
    for (const n of counts.values()) expect(n).toBeLessThan(775);
  });

  it('creates the entity when it does not exist yet, like factor enrolment', async () => {
    const id = identity();
    expect((await t.ok(GetEntity, { serviceSid, identity: id }, a.auth)).entity).toBeNull();
    const r = await generate(id);
    expect((await t.ok(GetEntity, { serviceSid, identity: id }, a.auth)).entity?.sid).toBe(r.entity.sid);
  });

  it('a new set replaces the old: every old code is refused, the new ones work', async () => {
    const id = identity();
    const old = (await generate(id)).codes;
    const fresh = (await generate(id)).codes;
    expect(await remaining(id)).toBe(10);
    for (const c of old.slice(0, 3)) expect(await redeemOk(id, c)).toEqual({ valid: false, remaining: 10 });
    expect(await redeemOk(id, fresh[0]!)).toEqual({ valid: true, remaining: 9 });
  });

  it('concurrent replacements leave exactly one whole set, never a mix', async () => {
    const id = identity();
    await generate(id);
    const sets = await Promise.all(Array.from({ length: 5 }, () => generate(id)));
    expect(await remaining(id)).toBe(10);
    const survivors = sets.filter((s) => s.codes.length === 10);
    let winners = 0;
    for (const s of survivors) {
      const r = await redeemOk(id, s.codes[0]!);
      if (r.valid) winners++;
    }
    expect(winners).toBe(1);
  });

  it('an identity outside the limits is INVALID_ARGUMENT and nothing is written', async () => {
    expectError(await t.gql(GenerateRecoveryCodes, { input: { serviceSid, identity: 'x' } }, a.auth), 'INVALID_ARGUMENT', {
      field: 'identity',
    });
  });
});

describe('redemption: each code once, a wrong code is a result', () => {
  it('accepts each code once; remaining counts down; a used code is then valid: false', async () => {
    const id = identity();
    const { codes } = await generate(id);
    expect(await redeemOk(id, codes[0]!)).toEqual({ valid: true, remaining: 9 });
    expect(await redeemOk(id, codes[0]!)).toEqual({ valid: false, remaining: 9 });
    expect(await redeemOk(id, codes[1]!)).toEqual({ valid: true, remaining: 8 });
    expect(await remaining(id)).toBe(8);
  });

  it('normalises input like Crockford: any case, no dash, spaces, I/L → 1 and O → 0', async () => {
    const id = identity();
    const { codes } = await generate(id);
    // A code with a 1 or a 0 typed as a look-alike letter, when the set has one; else lower case without the dash.
    const withOne = codes.slice(2).find((c) => c.includes('1'));
    const variants = [
      codes[0]!.toLowerCase().replace('-', ''),
      ` ${codes[1]!.slice(0, 5)} ${codes[1]!.slice(6)} `,
      withOne ? withOne.replace(/1/g, 'l') : codes[2]!,
    ];
    expect(normalizeRecoveryCode('abcde-fghij')).toBe('ABCDEFGH1J');
    expect(normalizeRecoveryCode('OoIiL-lO0I1')).toBe('0011110011');
    expect(normalizeRecoveryCode('0001111000')).toBe('0001111000');
    expect(normalizeRecoveryCode('UUUUU-UUUUU')).toBeNull(); // U is not a Crockford symbol
    let left = 10;
    for (const v of variants) expect(await redeemOk(id, v)).toEqual({ valid: true, remaining: --left });
  });

  it('a wrong, malformed or empty code is valid: false with the count, not an error', async () => {
    const id = identity();
    await generate(id);
    for (const c of [WRONG, 'hello', '', '!!!!!-!!!!!']) expect(await redeemOk(id, c)).toEqual({ valid: false, remaining: 10 });
  });

  it('an identity that never had codes answers valid: false, remaining 0', async () => {
    const id = identity();
    await t.ok(CreateEntity, { input: { serviceSid, identity: id } }, a.auth);
    expect(await redeemOk(id, WRONG)).toEqual({ valid: false, remaining: 0 });
    expect(await remaining(id)).toBe(0);
  });

  it('an over-long code is INVALID_ARGUMENT (no code is that long)', async () => {
    const id = identity();
    await generate(id);
    expectError(await redeem(id, 'A'.repeat(65)), 'INVALID_ARGUMENT', { field: 'code' });
  });

  it('an unknown identity is NOT_FOUND (60392), like any entity lookup', async () => {
    expectError(await redeem('user-never-seen-1', WRONG), 'NOT_FOUND', { twilioCode: 60392 });
  });

  it('race: 20 concurrent redemptions of one code → exactly one valid: true', async () => {
    const id = identity();
    const { codes } = await generate(id);
    const results = await Promise.all(Array.from({ length: 20 }, () => redeem(id, codes[0]!)));
    const valid = results.filter((r) => r.data?.redeemRecoveryCode.valid === true);
    expect(valid).toHaveLength(1);
    // The losers are wrong-code results, or refused by the throttle their own charges armed; never a second success.
    for (const r of results) {
      if (r.errors) expect(r.errors[0]!.extensions?.code).toBe('TOO_MANY_ATTEMPTS');
      else expect(r.data!.redeemRecoveryCode.remaining).toBe(9);
    }
    expect(await remaining(id)).toBe(9);
  });
});

describe('guessing throttle per entity (the factor schedule, no permanent lockout)', () => {
  it('free typos, then TOO_MANY_ATTEMPTS with a growing retryAfter — even for a right code; after the wait it works', async () => {
    const id = identity();
    const { codes } = await generate(id);
    // The first freeFailures + 1 guesses are checked (the last one arms the throttle).
    for (let i = 0; i <= THROTTLE.freeFailures; i++) expect(await redeemOk(id, WRONG)).toEqual({ valid: false, remaining: 10 });
    const first = expectError(await redeem(id, codes[0]!), 'TOO_MANY_ATTEMPTS', { twilioCode: 60308 });
    expect(first.extensions?.retryAfter).toBe(throttleDelaySeconds(THROTTLE.freeFailures + 1));
    // Charged before checking: the refused right code was not used up.
    expect(await remaining(id)).toBe(10);
    t.clock.advance((first.extensions!.retryAfter as number) * 1000);
    expect(await redeemOk(id, WRONG)).toEqual({ valid: false, remaining: 10 });
    const second = expectError(await redeem(id, codes[0]!), 'TOO_MANY_ATTEMPTS');
    expect(second.extensions?.retryAfter).toBe(throttleDelaySeconds(THROTTLE.freeFailures + 2));
    t.clock.advance((second.extensions!.retryAfter as number) * 1000);
    // After the wait the right code works and resets the streak: typos are free again.
    expect(await redeemOk(id, codes[0]!)).toEqual({ valid: true, remaining: 9 });
    for (let i = 0; i < THROTTLE.freeFailures; i++) expect(await redeemOk(id, WRONG)).toEqual({ valid: false, remaining: 9 });
  });

  it('is capped: after many failures the wait never exceeds the maximum', async () => {
    const id = identity();
    await generate(id);
    let last = 0;
    for (let i = 0; i < 20; i++) {
      const r = await redeem(id, WRONG);
      if (r.errors) {
        last = r.errors[0]!.extensions!.retryAfter as number;
        t.clock.advance(last * 1000);
      }
    }
    expect(last).toBeLessThanOrEqual(THROTTLE.maxDelayS);
    expect(last).toBeGreaterThan(0);
  });

  it('is per entity: a throttled identity does not slow another', async () => {
    const victim = identity();
    const other = identity();
    await generate(victim);
    const { codes } = await generate(other);
    for (let i = 0; i <= THROTTLE.freeFailures; i++) await redeemOk(victim, WRONG);
    expectError(await redeem(victim, WRONG), 'TOO_MANY_ATTEMPTS');
    expect(await redeemOk(other, codes[0]!)).toEqual({ valid: true, remaining: 9 });
  });

  it('a new set does not reset the throttle (only a right code does)', async () => {
    const id = identity();
    await generate(id);
    for (let i = 0; i <= THROTTLE.freeFailures; i++) await redeemOk(id, WRONG);
    const { codes } = await generate(id);
    expectError(await redeem(id, codes[0]!), 'TOO_MANY_ATTEMPTS');
  });
});

describe('tenancy and who may call', () => {
  it("another account's service and identity answer exactly like missing ones", async () => {
    const b = await t.newAccount('Other');
    const id = identity();
    const { codes } = await generate(id);
    const foreign = await t.gql(GenerateRecoveryCodes, { input: { serviceSid, identity: id } }, b.auth);
    const missing = await t.gql(GenerateRecoveryCodes, { input: { serviceSid: `VA${'0'.repeat(32)}`, identity: id } }, b.auth);
    expectError(foreign, 'NOT_FOUND', { twilioCode: 20404 });
    expectError(missing, 'NOT_FOUND', { twilioCode: 20404 });
    expect(foreign.errors![0]!.message.replace(serviceSid, 'X')).toBe(missing.errors![0]!.message.replace(`VA${'0'.repeat(32)}`, 'X'));
    expectError(await redeem(id, codes[0]!, b.auth), 'NOT_FOUND', { twilioCode: 20404 });
    // B's own service with the same identity: no entity there.
    const bService = (await t.ok(CreateService, { input: { friendlyName: 'B' } }, b.auth)).createService.sid;
    expectError(await redeem(id, codes[0]!, b.auth, bService), 'NOT_FOUND', { twilioCode: 60392 });
    expect((await t.ok(EntityRecoveryCodes, { serviceSid, identity: id }, b.auth)).entity).toBeNull();
    // Nothing of A's was touched.
    expect(await redeemOk(id, codes[0]!)).toEqual({ valid: true, remaining: 9 });
  });

  it('a code of one identity does not work for another (hashes are bound to the entity)', async () => {
    const x = identity();
    const y = identity();
    const { codes } = await generate(x);
    await generate(y);
    expect(await redeemOk(y, codes[0]!)).toEqual({ valid: false, remaining: 10 });
  });

  it('an access token (browser) may neither generate nor redeem, even for its own identity', async () => {
    const id = identity();
    const { codes } = await generate(id);
    const token = (await t.ok(CreateAccessToken, { input: { serviceSid, identity: id } }, a.auth)).createAccessToken.token;
    const bearer = `Bearer ${token}`;
    expectError(await t.gql(GenerateRecoveryCodes, { input: { serviceSid, identity: id } }, bearer), 'FORBIDDEN');
    expectError(await redeem(id, codes[0]!, bearer), 'FORBIDDEN');
    expect(await remaining(id)).toBe(10);
    // Reading the count with it is allowed (its own entity), like the rest of the entity.
    expect((await t.ok(EntityRecoveryCodes, { serviceSid, identity: id }, bearer)).entity?.recoveryCodesRemaining).toBe(10);
  });

  it('a previous auth token in its grace period may generate and redeem (per-user data, not credential management)', async () => {
    const c = await t.newAccount('Grace');
    const svc = (await t.ok(CreateService, { input: { friendlyName: 'Grace' } }, c.auth)).createService.sid;
    await t.ok(RotateAuthToken, { input: { graceSeconds: 3600 } }, c.auth);
    const id = identity();
    const r = await t.gql(GenerateRecoveryCodes, { input: { serviceSid: svc, identity: id } }, c.auth);
    expect(r.errors).toBeUndefined();
    const code = r.data!.generateRecoveryCodes.codes[0]!;
    expect((await redeem(id, code, c.auth, svc)).data?.redeemRecoveryCode).toEqual({ valid: true, remaining: 9 });
  });

  it('the operator token is FORBIDDEN, no credentials UNAUTHENTICATED', async () => {
    const id = identity();
    expectError(await t.gql(GenerateRecoveryCodes, { input: { serviceSid, identity: id } }, `Bearer ${ADMIN_TOKEN}`), 'FORBIDDEN');
    expectError(await t.gql(GenerateRecoveryCodes, { input: { serviceSid, identity: id } }, null), 'UNAUTHENTICATED');
    expectError(await redeem(id, WRONG, basic(a.sid, 'wrong-token')), 'UNAUTHENTICATED');
  });
});

describe('events, audit, and no plaintext anywhere', () => {
  it('announces generation and each redemption to subscribers and webhooks, with counts and no code', async () => {
    const hook = await t.ok(
      CreateWebhook,
      {
        input: {
          serviceSid,
          friendlyName: 'Recovery',
          webhookUrl: 'http://127.0.0.1:9/hook',
          eventTypes: ['entity.recovery_codes.generated', 'entity.recovery_code.redeemed'],
        },
      },
      a.auth,
    );
    const { seen, stop } = await recordBus(t, a.sid, (e) => e.type.startsWith('entity.'));
    const id = identity();
    const { codes, entity } = await generate(id);
    await redeemOk(id, codes[0]!);
    await redeemOk(id, WRONG); // a failure is audited, not announced
    await waitUntil(() => seen.length >= 2, WAIT_MS, 'bus events');
    await stop();
    expect(seen).toEqual([
      {
        type: 'entity.recovery_codes.generated',
        accountSid: a.sid,
        serviceSid,
        identity: id,
        entitySid: entity.sid,
        recoveryCodesRemaining: 10,
      },
      {
        type: 'entity.recovery_code.redeemed',
        accountSid: a.sid,
        serviceSid,
        identity: id,
        entitySid: entity.sid,
        recoveryCodesRemaining: 9,
      },
    ]);
    const deliveries = await t.deps.prisma.webhookDelivery.findMany({
      where: { webhookSid: hook.createWebhook.webhook.sid },
      orderBy: { dateCreated: 'asc' },
    });
    const bodies = deliveries.map((d) => d.payload as Record<string, unknown>).filter((p) => p.entity_sid === entity.sid);
    // The test clock stands still: both rows share a dateCreated, so compare as a set.
    expect(bodies.map((p) => [p.type, p.recovery_codes_remaining, p.entity_identity]).sort()).toEqual([
      ['entity.recovery_code.redeemed', 9, id],
      ['entity.recovery_codes.generated', 10, id],
    ]);
  });

  it('audits generation, redemption, failures and throttling, with the identity and never a code', async () => {
    const id = identity();
    const { codes, entity } = await generate(id);
    await redeemOk(id, codes[0]!);
    for (let i = 0; i <= THROTTLE.freeFailures; i++) await redeemOk(id, WRONG);
    expectError(await redeem(id, WRONG), 'TOO_MANY_ATTEMPTS');
    const rows = await t.deps.prisma.auditEvent.findMany({ where: { accountSid: a.sid, entitySid: entity.sid }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => r.type)).toEqual([
      'entity.recovery_codes.generated',
      'entity.recovery_code.redeemed',
      ...Array(THROTTLE.freeFailures + 1).fill('entity.recovery_code.failed'),
      'entity.recovery_code.throttled',
    ]);
    expect(JSON.parse(rows[0]!.details!)).toEqual({ identity: id, count: 10 });
    expect(JSON.parse(rows[1]!.details!)).toEqual({ identity: id, remaining: 9 });
    expect(JSON.parse(rows[2]!.details!)).toEqual({ identity: id, reason: 'wrong_code' });
    expect(rows.every((r) => r.serviceSid === serviceSid && r.actor === 'account')).toBe(true);
  });

  it('no code, in any spelling, appears in any database row or any log line', async () => {
    const id = identity();
    const { codes } = await generate(id);
    await redeemOk(id, codes[0]!);
    await redeemOk(id, codes[1]!.toLowerCase());
    const tables = await t.deps.prisma.$queryRaw<{ table_name: string }[]>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
    let dump = '';
    for (const { table_name } of tables) {
      const rows = await t.deps.prisma.$queryRawUnsafe<{ r: string }[]>(`SELECT row_to_json(x)::text AS r FROM "${table_name}" x`);
      dump += rows.map((r) => r.r).join('\n');
    }
    expect(tables.map((x) => x.table_name)).toContain('RecoveryCode');
    const stored = await t.deps.prisma.recoveryCode.findMany({ where: { entity: { identity: id } } });
    expect(stored).toHaveLength(8);
    for (const s of stored) expect(s.codeHash).toMatch(/^[0-9a-f]{64}$/);
    const logs = lines.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const c of codes) {
      for (const spelling of [c, c.replace('-', ''), c.toLowerCase(), c.toLowerCase().replace('-', '')]) {
        expect(dump.includes(spelling), `database holds ${spelling}`).toBe(false);
        expect(logs.includes(spelling), `logs hold ${spelling}`).toBe(false);
      }
    }
  });
});

describe('REST (Verity extension): POST …/Entities/{Identity}/RecoveryCodes and …/RecoveryCodes/Redeem', () => {
  const rest = (path: string, form: Record<string, string>, auth = a.auth) =>
    t.app.fetch(`http://verity.test/v2/Services/${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  const json = async (r: Response) => (await r.json()) as Record<string, any>;

  it('generates (201, codes once) and redeems (200, valid once; wrong code 200 valid: false)', async () => {
    const id = identity();
    const g = await rest(`${serviceSid}/Entities/${id}/RecoveryCodes`, {});
    expect(g.status).toBe(201);
    const body = await json(g);
    expect(body).toMatchObject({ account_sid: a.sid, service_sid: serviceSid, identity: id, recovery_codes_remaining: 10 });
    expect(body.url).toBe(`${t.config.publicUrl}/v2/Services/${serviceSid}/Entities/${id}/RecoveryCodes`);
    expect(body.codes).toHaveLength(10);
    const redeemPath = `${serviceSid}/Entities/${id}/RecoveryCodes/Redeem`;
    const first = await rest(redeemPath, { Code: body.codes[0].toLowerCase() });
    expect(first.status).toBe(200);
    expect(await json(first)).toEqual({ valid: true, remaining: 9 });
    expect(await json(await rest(redeemPath, { Code: body.codes[0] }))).toEqual({ valid: false, remaining: 9 });
    // The same set seen through GraphQL.
    expect(await remaining(id)).toBe(9);
  });

  it('throttles with 429 / 60308 and Retry-After; a missing Code is 400 / 60200', async () => {
    const id = identity();
    await generate(id);
    const path = `${serviceSid}/Entities/${id}/RecoveryCodes/Redeem`;
    const missing = await rest(path, {});
    expect(missing.status).toBe(400);
    expect((await json(missing)).code).toBe(60200);
    for (let i = 0; i <= THROTTLE.freeFailures; i++) expect((await rest(path, { Code: WRONG })).status).toBe(200);
    const refused = await rest(path, { Code: WRONG });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await json(refused)).code).toBe(60308);
  });

  it("another account's service and an unknown identity are 404 like missing ones", async () => {
    const b = await t.newAccount('Other REST');
    const id = identity();
    await generate(id);
    const foreign = await rest(`${serviceSid}/Entities/${id}/RecoveryCodes`, {}, b.auth);
    expect(foreign.status).toBe(404);
    expect((await json(foreign)).code).toBe(20404);
    const foreignRedeem = await rest(`${serviceSid}/Entities/${id}/RecoveryCodes/Redeem`, { Code: WRONG }, b.auth);
    expect(foreignRedeem.status).toBe(404);
    const unknown = await rest(`${serviceSid}/Entities/user-never-seen-2/RecoveryCodes/Redeem`, { Code: WRONG });
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).code).toBe(60392);
    expect(await remaining(id)).toBe(10);
  });
});
