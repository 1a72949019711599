import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyring } from '../src/domain/seed-crypto.ts';
import { loadFingerprintKey, rotateSeeds } from '../src/infra/keys.ts';
import { startTestApp, TEST_KEYS, type TestApp, type Tenant } from './support/app.ts';
import { CreateService, CreateTotpFactor, VerifyFactor } from './support/documents.ts';
import { oathCode, unix } from './support/oath.ts';
import { runEntry } from './support/process.ts';

let t: TestApp;
let a: Tenant;
let serviceSid: string;
const NEW_KEY = `k2:${randomBytes(32).toString('base64')}`;

beforeAll(async () => {
  t = await startTestApp();
  a = await t.newAccount();
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Rotation' } }, a.auth)).createService.sid;
});
afterAll(() => t.close());

async function enrol(i: number) {
  const r = await t.ok(CreateTotpFactor, { input: { serviceSid, identity: `rotate-${1000 + i}`, friendlyName: 'x' } }, a.auth);
  return r.createTotpFactor;
}

describe('seed key rotation', () => {
  it('re-encrypts in batches, resumes after an interruption, keeps serving, then works without the old key', async () => {
    const factors = [];
    for (let i = 0; i < 7; i++) factors.push(await enrol(i));
    const fingerprintKey = t.deps.fingerprintKey;

    // The operator puts the new key first; the old one stays until rotation is done.
    const both = parseKeyring(`${NEW_KEY},${TEST_KEYS}`);
    t.deps.keyring = both;
    await expect(
      rotateSeeds(t.db.prisma, both, {
        batchSize: 3,
        onProgress: () => {
          throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(await t.db.prisma.factor.count({ where: { secretKeyId: 'k2' } })).toBe(3);

    // Resume while enrolments keep arriving (written under the new key already).
    const [result, late] = await Promise.all([rotateSeeds(t.db.prisma, both, { batchSize: 3 }), enrol(99)]);
    expect(result.done).toBe(4);
    expect(await t.db.prisma.factor.count({ where: { secretKeyId: { not: 'k2' } } })).toBe(0);

    // Old key gone: every seed still decrypts, codes verify, fingerprints still match.
    const newOnly = parseKeyring(NEW_KEY);
    t.deps.keyring = newOnly;
    expect(await loadFingerprintKey(t.db.prisma, newOnly)).toEqual(fingerprintKey);
    for (const f of [...factors, late]) {
      const code = oathCode(f.binding.secret, {}, unix(t.clock.now()));
      const r = await t.ok(VerifyFactor, { input: { factorSid: f.factor.sid, authPayload: code } }, a.auth);
      expect(r.verifyFactor.status).toBe('VERIFIED');
    }
    const dup = await t.gql(
      CreateTotpFactor,
      { input: { serviceSid, identity: 'rotate-1000', friendlyName: 'x', secret: factors[0]!.binding.secret } },
      a.auth,
    );
    expect(dup.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  it.runIf(!!process.env.DATABASE_URL)('`npm run keys:rotate` shows progress and rotates against PostgreSQL', async () => {
    const url = (t.db as { url?: string }).url!;
    await enrol(50);
    const k3 = `k3:${randomBytes(32).toString('base64')}`;
    const p = runEntry('scripts/keys-rotate.ts', { DATABASE_URL: url, VERITY_ENCRYPTION_KEYS: `${k3},${NEW_KEY},${TEST_KEYS}` });
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/rotating seeds \[.*\] 100%/);
    expect(p.output()).toMatch(/every seed is now under key "k3"/);
    expect(await t.db.prisma.factor.count({ where: { secretKeyId: { not: 'k3' } } })).toBe(0);
  });
});
