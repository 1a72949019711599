import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildKeyUri,
  compatibilityWarnings,
  encodeBase32,
  generateCode,
  generateSeed,
  normalizeBase32Secret,
  parseBase32Secret,
  verifyCode,
  type TotpAlgorithm,
  type TotpConfig,
} from './totp.ts';

interface Vectors {
  step: number;
  digits: number;
  seeds: Record<TotpAlgorithm, { ascii: string }>;
  vectors: Array<{ time: number } & Record<TotpAlgorithm, string>>;
}
// RFC 6238 Appendix B (8 digits, 30 s), inlined so the suite runs outside this workspace; kept in sync with
// /work/shared/rfc6238-vectors.json by the last test of the block below when that file exists.
const V: Vectors = {
  step: 30,
  digits: 8,
  seeds: {
    sha1: { ascii: '12345678901234567890' },
    sha256: { ascii: '12345678901234567890123456789012' },
    sha512: { ascii: '1234567890123456789012345678901234567890123456789012345678901234' },
  },
  vectors: [
    { time: 59, sha1: '94287082', sha256: '46119246', sha512: '90693936' },
    { time: 1111111109, sha1: '07081804', sha256: '68084774', sha512: '25091201' },
    { time: 1111111111, sha1: '14050471', sha256: '67062674', sha512: '99943326' },
    { time: 1234567890, sha1: '89005924', sha256: '91819424', sha512: '93441116' },
    { time: 2000000000, sha1: '69279037', sha256: '90698825', sha512: '38618901' },
    { time: 20000000000, sha1: '65353130', sha256: '77737706', sha512: '47863826' },
  ],
};
const SHARED_VECTORS = '/work/shared/rfc6238-vectors.json';
const ascii = (s: string) => new TextEncoder().encode(s);
const ALGS: TotpAlgorithm[] = ['sha1', 'sha256', 'sha512'];
const cfg = (o: Partial<TotpConfig> = {}): TotpConfig => ({ alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1, ...o });

describe('RFC 6238 Appendix B vectors', () => {
  for (const alg of ALGS) {
    for (const { time, ...codes } of V.vectors) {
      it(`${alg} @ ${time}`, () => {
        const seed = ascii(V.seeds[alg].ascii);
        const c = cfg({ alg, codeLength: V.digits, timeStep: V.step, skew: 0 });
        expect(generateCode(seed, c, time)).toBe(codes[alg]);
        expect(verifyCode(seed, codes[alg], c, time)).toEqual({ valid: true, timeStep: Math.floor(time / 30), delta: 0 });
        expect(normalizeBase32Secret(encodeBase32(seed))).toEqual(seed);
      });
    }
  }
  it.skipIf(!existsSync(SHARED_VECTORS))('inlined vectors equal the shared file, whose Base32 seeds decode to the ASCII seeds', () => {
    const shared = JSON.parse(readFileSync(SHARED_VECTORS, 'utf8')) as Vectors & { seeds: Record<TotpAlgorithm, { base32: string }> };
    expect(shared.vectors).toEqual(V.vectors);
    expect([shared.step, shared.digits]).toEqual([V.step, V.digits]);
    for (const alg of ALGS) {
      expect(shared.seeds[alg].ascii).toBe(V.seeds[alg].ascii);
      expect(normalizeBase32Secret(shared.seeds[alg].base32)).toEqual(ascii(V.seeds[alg].ascii));
      expect(encodeBase32(ascii(V.seeds[alg].ascii))).toBe(shared.seeds[alg].base32);
    }
  });
  it('short codes are the low digits of the 8-digit code (RFC 4226 §5.3: value mod 10^digits)', () => {
    const seed = ascii(V.seeds.sha1.ascii);
    for (const d of [3, 4, 5, 6, 7]) expect(generateCode(seed, cfg({ codeLength: d }), 59)).toBe('94287082'.slice(-d));
  });
});

describe('verifyCode window', () => {
  const seed = ascii(V.seeds.sha1.ascii);
  const t = 1_000_000_005; // step 33333333, 5 s into it
  const step = Math.floor(t / 30);
  const codeAt = (s: number, c = cfg()) => generateCode(seed, c, s * c.timeStep);

  it.each([0, 1, 2])('skew %i accepts exactly ±skew steps', (skew) => {
    const c = cfg({ skew });
    for (let d = 0 - skew; d <= skew; d++) {
      expect(verifyCode(seed, codeAt(step + d, c), c, t)).toEqual({ valid: true, timeStep: step + d, delta: d });
    }
    expect(verifyCode(seed, codeAt(step - skew - 1, c), c, t)).toEqual({ valid: false, reason: 'mismatch' });
    expect(verifyCode(seed, codeAt(step + skew + 1, c), c, t)).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('window edges follow the step boundary, not now ± seconds', () => {
    const c = cfg({ skew: 1 });
    const start = step * 30;
    expect(verifyCode(seed, codeAt(step - 1), c, start).valid).toBe(true); // first second of step
    expect(verifyCode(seed, codeAt(step - 1), c, start + 29).valid).toBe(true); // last second of step
    expect(verifyCode(seed, codeAt(step - 1), c, start + 30)).toEqual({ valid: false, reason: 'mismatch' });
    expect(verifyCode(seed, codeAt(step + 1), c, start - 1)).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('works for every algorithm, length and period', () => {
    for (const alg of ALGS)
      for (const codeLength of [3, 6, 8])
        for (const timeStep of [20, 45, 60]) {
          const c = cfg({ alg, codeLength, timeStep });
          const s = Math.floor(t / timeStep);
          expect(verifyCode(seed, generateCode(seed, c, t), c, t)).toEqual({ valid: true, timeStep: s, delta: 0 });
        }
  });
});

describe('verifyCode replay (RFC 6238 §5.2: accept a code once)', () => {
  const seed = ascii(V.seeds.sha1.ascii);
  const t = 1_000_000_005;
  const step = Math.floor(t / 30);
  const c = cfg({ skew: 1 });

  it('the same code twice: second attempt is replayed', () => {
    const code = generateCode(seed, c, t);
    const first = verifyCode(seed, code, c, t, null);
    expect(first).toEqual({ valid: true, timeStep: step, delta: 0 });
    if (!first.valid) throw new Error('unreachable');
    expect(verifyCode(seed, code, c, t, first.timeStep)).toEqual({ valid: false, reason: 'replayed' });
    expect(verifyCode(seed, code, c, t + 20, BigInt(first.timeStep))).toEqual({ valid: false, reason: 'replayed' });
  });

  it('a step before the last used one is replayed; a later one is accepted', () => {
    const prev = generateCode(seed, c, (step - 1) * 30);
    expect(verifyCode(seed, prev, c, t, step)).toEqual({ valid: false, reason: 'replayed' });
    const next = generateCode(seed, c, (step + 1) * 30);
    expect(verifyCode(seed, next, c, t, step)).toEqual({ valid: true, timeStep: step + 1, delta: 1 });
  });

  it('lastUsed beyond the window: matching code is replayed, wrong code is mismatch', () => {
    const code = generateCode(seed, c, t);
    expect(verifyCode(seed, code, c, t, step + 5)).toEqual({ valid: false, reason: 'replayed' });
    expect(verifyCode(seed, code === '000000' ? '000001' : '000000', c, t, step + 5)).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('a code that matches both a used and a fresh step is accepted at the fresh one', () => {
    // Find two steps inside one window with the same 3-digit code (1-in-1000 per pair, so search).
    const c3 = cfg({ codeLength: 3, skew: 2 });
    let found = false;
    for (let s = 1000; s < 200_000 && !found; s++) {
      const a = generateCode(seed, c3, s * 30);
      if (a !== generateCode(seed, c3, (s + 1) * 30)) continue;
      if ([2, 3].some((d) => generateCode(seed, c3, (s + d) * 30) === a)) continue;
      found = true;
      expect(verifyCode(seed, a, c3, (s + 1) * 30, s)).toEqual({ valid: true, timeStep: s + 1, delta: 0 });
      expect(verifyCode(seed, a, c3, (s + 1) * 30, s + 1)).toEqual({ valid: false, reason: 'replayed' });
    }
    expect(found).toBe(true);
  });
});

describe('verifyCode malformed', () => {
  const seed = generateSeed();
  it.each(['', '12345', '1234567', '12345a', ' 123456', '123456 ', '+12345', '１２３４５６', '12.456'])('%j', (code) => {
    expect(verifyCode(seed, code, cfg(), 1_700_000_000)).toEqual({ valid: false, reason: 'malformed' });
  });
  it('rejects configs outside Twilio limits', () => {
    expect(() => generateCode(seed, cfg({ codeLength: 9 }), 0)).toThrow(RangeError);
    expect(() => verifyCode(seed, '123456', cfg({ timeStep: 10 }), 0)).toThrow(RangeError);
    expect(() => verifyCode(seed, '123456', cfg({ skew: 3 }), 0)).toThrow(RangeError);
  });
});

describe('Base32 secrets (RFC 4648 §6)', () => {
  const twenty = ascii('12345678901234567890');
  it.each([
    ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'],
    ['gezdgnbvgy3tqojqgezdgnbvgy3tqojq'],
    ['GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ'],
    [' gezd gnbv GY3T qojq gezd gnbv gy3t qojq '],
    ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ===='],
  ])('accepts %j', (s) => expect(normalizeBase32Secret(s)).toEqual(twenty));

  it('accepts padding of a non-multiple-of-5 length', () => {
    const seed = ascii('1234567890123456x'); // 17 bytes → 28 chars + 4 '='
    expect(normalizeBase32Secret(`${encodeBase32(seed)}====`)).toEqual(seed);
  });

  it.each([
    ['GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ', 'invalid_character'],
    ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1', 'invalid_character'],
    ['GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ', 'invalid_character'],
    ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\t', 'invalid_character'],
    ['', 'empty'],
    ['  ==', 'empty'],
    ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG', 'invalid_length'],
    [encodeBase32(new Uint8Array(15)), 'too_short'],
    [encodeBase32(new Uint8Array(65)), 'too_long'],
  ])('rejects %j (%s)', (s, reason) => {
    expect(parseBase32Secret(s)).toEqual({ ok: false, reason });
    expect(normalizeBase32Secret(s)).toBeNull();
  });

  it('16 and 64 bytes are the accepted bounds', () => {
    for (const n of [16, 64]) expect(normalizeBase32Secret(encodeBase32(new Uint8Array(n).fill(7)))?.length).toBe(n);
  });

  it('encode/decode round-trips every length 16–64 and generateSeed gives 20 bytes (32 chars)', () => {
    for (let n = 16; n <= 64; n++) {
      const b = new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff);
      const s = encodeBase32(b);
      expect(s).toMatch(/^[A-Z2-7]+$/);
      expect(normalizeBase32Secret(s)).toEqual(b);
    }
    const seed = generateSeed();
    expect(seed.length).toBe(20);
    expect(encodeBase32(seed)).toHaveLength(32);
    expect(generateSeed((n) => new Uint8Array(n).fill(1))).toEqual(new Uint8Array(20).fill(1));
  });
});

describe('buildKeyUri', () => {
  it("reproduces Twilio's documented binding.uri byte for byte", () => {
    expect(
      buildKeyUri({
        issuer: 'test-issuer',
        accountName: 'John\u2019s Account Name',
        secretBase32: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
        alg: 'sha1',
        digits: 6,
        period: 30,
      }),
    ).toBe(
      'otpauth://totp/test-issuer:John%E2%80%99s%20Account%20Name?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=test-issuer&algorithm=SHA1&digits=6&period=30',
    );
  });
  it('percent-encodes issuer in label and query, keeps the label colon literal', () => {
    const uri = buildKeyUri({ issuer: 'Acme & Co: EU', accountName: 'a@b.c', secretBase32: 'AAAA', alg: 'sha512', digits: 8, period: 60 });
    expect(uri).toBe(
      'otpauth://totp/Acme%20%26%20Co%3A%20EU:a%40b.c?secret=AAAA&issuer=Acme%20%26%20Co%3A%20EU&algorithm=SHA512&digits=8&period=60',
    );
  });
});

describe('compatibilityWarnings', () => {
  it('none for SHA1/6/30', () => expect(compatibilityWarnings(cfg())).toEqual([]));
  it('one stable code per deviation', () => {
    const w = compatibilityWarnings(cfg({ alg: 'sha256', codeLength: 8, timeStep: 60 }));
    expect(w.map((x) => x.code)).toEqual(['NON_SHA1_ALGORITHM', 'NON_STANDARD_DIGITS', 'NON_STANDARD_PERIOD']);
    for (const x of w) {
      expect(x.message).not.toBe('');
      expect(x.apps.length).toBeGreaterThan(0);
    }
    expect(compatibilityWarnings(cfg({ codeLength: 4 }))[0]?.apps).toContain('Authy');
  });
});
