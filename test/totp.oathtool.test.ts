// Differential test: src/domain/totp.ts against an independent RFC 6238 implementation, Debian's `oathtool`
// (OATH Toolkit). Random but reproducible: set TOTP_ORACLE_SEED=<n> to replay a failing run.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateCode, verifyCode, type TotpAlgorithm, type TotpConfig } from '../src/domain/totp.ts';

const run = promisify(execFile);
const OATHTOOL = process.env.OATHTOOL ?? 'oathtool';
const INSTALL_HINT =
  'oathtool is required by this test (independent TOTP oracle). Install it with `apt-get install -y oathtool` (Debian/Ubuntu) or `brew install oath-toolkit`, or point OATHTOOL at the binary.';
const PRNG_SEED = Number(process.env.TOTP_ORACLE_SEED ?? 0x5eed_2026);
const CASES = 1000;
const WINDOW = 2; // oathtool -w 2 prints the codes of steps T, T+1, T+2: 3 comparisons per case
const BATCH = 50; // oathtool runs per shell

// mulberry32: tiny, seedable, good enough to pick test inputs.
function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  i: number;
  seed: Uint8Array;
  cfg: TotpConfig;
  t: number;
}

function makeCases(prngSeed: number): Case[] {
  const rnd = mulberry32(prngSeed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const algs: TotpAlgorithm[] = ['sha1', 'sha256', 'sha512'];
  return Array.from({ length: CASES }, (_, i) => {
    const seed = Uint8Array.from({ length: int(16, 64) }, () => int(0, 255));
    const cfg: TotpConfig = { alg: algs[int(0, 2)]!, codeLength: int(3, 8), timeStep: int(20, 60), skew: 0 };
    // Mostly anywhere up to 2603 (RFC 6238 §4.2 wants > 2038 to work); some pinned to a step's first/last second.
    const base = int(0, 20_000_000_000);
    const edge = int(0, 3);
    const t = edge === 0 ? base - (base % cfg.timeStep) : edge === 1 ? base - (base % cfg.timeStep) + cfg.timeStep - 1 : base;
    return { i, seed, cfg, t };
  });
}

// oathtool does 6–8 digits only; HOTP truncation is value mod 10^digits (RFC 4226 §5.3), so shorter codes are the
// low digits of the 8-digit one.
const oathDigits = (c: Case) => (c.cfg.codeLength >= 6 ? c.cfg.codeLength : 8);

// One `sh` per batch runs many oathtool commands: spawning each from Node costs ~3× more than from a shell.
// Every argument is generated here (algorithm name, integers, hex), so no quoting is needed.
async function oathtoolCodes(batch: Case[]): Promise<string[][]> {
  const script = [
    'set -e',
    ...batch.map(
      (c) =>
        `"$0" --totp=${c.cfg.alg} -d ${oathDigits(c)} -s ${c.cfg.timeStep}s` +
        ` -w ${WINDOW} -N @${c.t} ${Buffer.from(c.seed).toString('hex')}`,
    ),
  ].join('\n');
  const { stdout } = await run('sh', ['-c', script, OATHTOOL], { maxBuffer: 16 << 20 });
  const lines = stdout.trim().split('\n');
  return batch.map((c, k) => lines.slice(k * (WINDOW + 1), (k + 1) * (WINDOW + 1)).map((code) => code.slice(-c.cfg.codeLength)));
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

describe(`totp.ts vs oathtool (TOTP_ORACLE_SEED=${PRNG_SEED})`, () => {
  it(`${CASES} random cases × ${WINDOW + 1} steps agree`, async () => {
    try {
      await run(OATHTOOL, ['--version']);
    } catch {
      throw new Error(INSTALL_HINT);
    }
    const cases = makeCases(PRNG_SEED);
    const batches = Array.from({ length: Math.ceil(CASES / BATCH) }, (_, b) => cases.slice(b * BATCH, (b + 1) * BATCH));
    const oracle = (await mapLimit(batches, Math.max(2, availableParallelism()), oathtoolCodes)).flat();
    const failures: string[] = [];
    cases.forEach((c, k) => {
      const expected = oracle[k]!;
      const describeCase = () => `#${c.i} key=${Buffer.from(c.seed).toString('hex')} cfg=${JSON.stringify(c.cfg)} t=${c.t}`;
      if (expected.length !== WINDOW + 1) {
        failures.push(`${describeCase()}: oathtool printed ${JSON.stringify(expected)}`);
        return;
      }
      expected.forEach((want, w) => {
        const got = generateCode(c.seed, c.cfg, c.t + w * c.cfg.timeStep);
        if (got !== want) failures.push(`${describeCase()} step+${w}: ours ${got}, oathtool ${want}`);
      });
      const v = verifyCode(c.seed, expected[0]!, c.cfg, c.t); // skew 0: no chance collision with a neighbour step
      if (!v.valid || v.timeStep !== Math.floor(c.t / c.cfg.timeStep)) failures.push(`${describeCase()}: verifyCode ${JSON.stringify(v)}`);
    });
    expect(failures, `replay with TOTP_ORACLE_SEED=${PRNG_SEED}; first failures:\n${failures.slice(0, 10).join('\n')}`).toEqual([]);
    // Coverage sanity: the random draw really hit every algorithm and length.
    expect(new Set(cases.map((c) => `${c.cfg.alg}/${c.cfg.codeLength}`)).size).toBe(18);
  }, 180_000);
});
