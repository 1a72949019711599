import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { AuditEvents } from './support/audit-documents.ts';
import { CreateChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { oathCode, unix } from './support/oath.ts';
import { encryptSeed } from '../src/domain/seed-crypto.ts';
import { encodeBase32, generateSeed } from '../src/domain/totp.ts';
import { newSid } from '../src/domain/sid.ts';
import { canonicalJson } from '../src/domain/audit.ts';
import { insertAuditInbox } from '../src/db/audit-store.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';

// A login (createChallenge with a code) is one SQL statement and one commit: open, charge,
// approve-with-step and the audit event together; the seed comes from the process's cache.
let queries: string[] = [];
let t: TestApp;
let a: Tenant;
beforeAll(async () => {
  t = await startTestApp({}, { onQuery: (sql) => queries.push(sql) });
  a = await t.newAccount('One statement');
});
afterAll(() => t.close());

const login = async (factorSid: string, code: string) =>
  (await t.ok(CreateChallenge, { input: { factorSid, authPayload: code } }, a.auth)).createChallenge;
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
/** Statements that touch a factor or a challenge (authentication and the audit seal that follows are not the login's). */
const loginStatements = () => queries.filter((q) => /"(Factor|Challenge)"/.test(q) || /^\s*(BEGIN|COMMIT)/i.test(q));

describe('one statement per login', () => {
  it('right code, wrong code and replay each cost exactly one statement once the seed is cached, and no transaction', async () => {
    const f = await verifiedFactor(t, a);
    expect((await login(f.factorSid, wrong(f.code()))).status).toBe('PENDING'); // decrypts and caches the seed
    for (const [code, status] of [
      [f.code(), 'APPROVED'],
      [wrong(f.code()), 'PENDING'],
      [f.code(), 'PENDING'], // the same code again: replay (RFC 6238 §5.2)
    ] as const) {
      queries = [];
      expect((await login(f.factorSid, code)).status).toBe(status);
      expect(loginStatements()).toHaveLength(1);
    }
    // Every answer left its audit event, sealed into the chain (the list seals before it reads).
    const types = (await t.ok(AuditEvents, { first: 4 }, a.auth)).auditEvents.edges.map((e) => e.node.type);
    expect(types).toEqual(['challenge.failed', 'challenge.failed', 'challenge.approved', 'challenge.failed']);
  });

  it('a cached seed is never used once the factor holds another seed (rotated or re-encrypted by another instance)', async () => {
    const f = await verifiedFactor(t, a);
    expect((await login(f.factorSid, f.code())).status).toBe('APPROVED'); // cached
    const fresh = generateSeed();
    const { keyId, ciphertext } = encryptSeed(t.deps.keyring, fresh, f.factorSid);
    await t.db.prisma.factor.update({
      where: { sid: f.factorSid },
      data: { secretKeyId: keyId, secretCiphertext: new Uint8Array(ciphertext) },
    });
    t.clock.advance(30_000);
    expect((await login(f.factorSid, f.code())).status).toBe('PENDING'); // the old seed's code
    const code = oathCode(encodeBase32(fresh), {}, unix(t.clock.now()));
    expect((await login(f.factorSid, code)).status).toBe('APPROVED');
  });
});

describe('the audit inbox', () => {
  it('an event committed to the inbox but never sealed (its process stopped) joins its chain on the next read, and the trail verifies', async () => {
    const b = await t.newAccount('Inbox');
    const sid = newSid('auditEvent');
    await insertAuditInbox(t.db.prisma, [
      {
        sid,
        accountSid: b.sid,
        type: 'challenge.failed',
        serviceSid: null,
        entitySid: null,
        factorSid: null,
        challengeSid: null,
        actor: 'account',
        details: canonicalJson({ reason: 'wrong_code' }),
        dateCreated: t.clock.now(),
      },
    ]);
    const [newest] = (await t.ok(AuditEvents, { first: 1 }, b.auth)).auditEvents.edges;
    expect(newest?.node).toMatchObject({ sid, type: 'challenge.failed' });
    expect(await verifyAuditTrail(t.db.prisma, { accountSid: b.sid })).toMatchObject({ ok: true });
  });
});
