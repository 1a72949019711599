// TOTP (RFC 6238) as used by Verity: a thin, pure wrapper over otplib v13.
// Time is always passed in (unix seconds); nothing here reads the clock or does I/O.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { generateSync } from '@otplib/hotp';
import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface TotpConfig {
  alg: TotpAlgorithm;
  /** 3–8 digits (Twilio Config.CodeLength). */
  codeLength: number;
  /** 20–60 seconds (Twilio Config.TimeStep). */
  timeStep: number;
  /** 0–2 steps each side (Twilio Config.Skew). */
  skew: number;
}

// Twilio Verify v2 Factor limits (docs/twilio-verify-v2-totp.md §5, docs/api-contract.md "Limits").
export const TOTP_LIMITS = {
  codeLength: { min: 3, max: 8 },
  timeStep: { min: 20, max: 60 },
  skew: { min: 0, max: 2 },
  /** RFC 4226 §4 R6 wants ≥ 128-bit shared secrets; 64 is otplib's upper guardrail. */
  secretBytes: { min: 16, max: 64 },
} as const;

export const DEFAULT_TOTP_CONFIG: TotpConfig = { alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1 };

const ALGS: readonly TotpAlgorithm[] = ['sha1', 'sha256', 'sha512'];
const inRange = (n: number, r: { min: number; max: number }) => Number.isInteger(n) && n >= r.min && n <= r.max;

/** Throws RangeError on a config outside Twilio's limits (a programming error: inputs are validated upstream). */
export function assertTotpConfig(cfg: TotpConfig): void {
  if (!ALGS.includes(cfg.alg)) throw new RangeError(`TOTP alg must be one of ${ALGS.join(', ')}`);
  for (const k of ['codeLength', 'timeStep', 'skew'] as const) {
    const r = TOTP_LIMITS[k];
    if (!inRange(cfg[k], r)) throw new RangeError(`TOTP ${k} must be an integer in ${r.min}–${r.max}`);
  }
}

/** 20 CSPRNG bytes = 160 bits, the HMAC-SHA1 output size (RFC 4226 §4 R6; Twilio's 32-char Base32 secret). */
export function generateSeed(rng: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): Uint8Array {
  return rng(20);
}

// ---------------------------------------------------------------- Base32 (RFC 4648 §6)

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 alphabet, uppercase, without `=` padding (Key URI format and Twilio's binding.secret omit it). */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buf = 0;
  let bits = 0;
  for (const b of bytes) {
    buf = ((buf << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(buf >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(buf << (5 - bits)) & 31];
  return out;
}

export type SecretRejection = 'empty' | 'invalid_character' | 'invalid_length' | 'too_short' | 'too_long';

/**
 * Parses an imported secret (Twilio Binding.Secret). Tolerates case, spaces and trailing `=` padding only — a dash
 * or any other character is rejected rather than guessed at. The reason never contains the secret.
 */
export function parseBase32Secret(input: string): { ok: true; seed: Uint8Array } | { ok: false; reason: SecretRejection } {
  const s = input.replace(/ /g, '').toUpperCase().replace(/=+$/, '');
  if (s.length === 0) return { ok: false, reason: 'empty' };
  if (!/^[A-Z2-7]+$/.test(s)) return { ok: false, reason: 'invalid_character' };
  // RFC 4648 §6: a final quantum leaves 2, 4, 5 or 7 characters; 1, 3 or 6 cannot come from any encoder.
  if ([1, 3, 6].includes(s.length % 8)) return { ok: false, reason: 'invalid_length' };
  const out = new Uint8Array(Math.floor((s.length * 5) / 8));
  let buf = 0;
  let bits = 0;
  let i = 0;
  for (const ch of s) {
    buf = ((buf << 5) | B32.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[i++] = (buf >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // docs/api-contract.md: an imported secret must be at least 16 bytes (RFC 4226 §4 R6: 128 bits minimum).
  if (out.length < TOTP_LIMITS.secretBytes.min) return { ok: false, reason: 'too_short' };
  if (out.length > TOTP_LIMITS.secretBytes.max) return { ok: false, reason: 'too_long' };
  return { ok: true, seed: out };
}

/** Same as parseBase32Secret but `null` on any rejection (use parseBase32Secret when you need the reason). */
export function normalizeBase32Secret(input: string): Uint8Array | null {
  const r = parseBase32Secret(input);
  return r.ok ? r.seed : null;
}

// ---------------------------------------------------------------- codes

/** RFC 6238 §4.2: T = floor(t / X) with T0 = 0. */
export const timeStepAt = (nowSeconds: number, timeStep: number): number => Math.floor(nowSeconds / timeStep);

// RFC 6238 §4.2: a TOTP code is the HOTP code (RFC 4226 §5.3) of the time step T. otplib's HOTP
// generator with Node's HMAC (OpenSSL) costs a third of its TOTP wrapper with the pure-JS default
// (6 µs vs 19 µs per code here), and a login computes one code per step of its window.
const hmac = new NodeCryptoPlugin();
const hotpCode = (seed: Uint8Array, cfg: TotpConfig, step: number): string =>
  generateSync({ secret: seed, counter: step, algorithm: cfg.alg, digits: cfg.codeLength, crypto: hmac });

export function generateCode(seed: Uint8Array, cfg: TotpConfig, nowSeconds: number): string {
  assertTotpConfig(cfg);
  return hotpCode(seed, cfg, timeStepAt(nowSeconds, cfg.timeStep));
}

export type VerifyResult =
  { valid: true; timeStep: number; delta: number } | { valid: false; reason: 'mismatch' | 'replayed' | 'malformed' };

/** A code the way a device shows it: exactly code_length ASCII digits (Twilio AuthPayload), else null. */
export function codeBytes(code: string, cfg: TotpConfig): Buffer | null {
  if (code.length !== cfg.codeLength || !/^[0-9]+$/.test(code)) return null;
  return Buffer.from(code, 'ascii');
}

/** The code a device shows at time step `step` (RFC 6238 §4.2), as ASCII bytes for codesEqual. */
export function stepCode(seed: Uint8Array, cfg: TotpConfig, step: number): Buffer {
  return Buffer.from(hotpCode(seed, cfg, step), 'ascii');
}

/**
/**
 * The one comparison of a given code with a step's code, in constant time (RFC 4226 §7.2), so a
 * right and a wrong code cost the same. Every TOTP check (verifyCode, matchingSteps, the
 * resynchronisation search in resync.ts) goes through it.
 */
export function codesEqual(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * Every step of the window C-skew…C+skew around the centre C = T + drift (RFC 6238 §5.2 delay
 * window; §6: the window follows the device's recorded clock drift) whose code is `code`, in
 * ascending order; empty for a wrong or malformed code. Constant work: every step of the window is
 * computed and compared, whatever matches (RFC 4226 §7.2 asks for resistance to guessing; equal
 * work means a right, wrong or replayed code cannot be told apart by timing, and a wrong code costs
 * what a right one does). The replay rule (a step ≤ the last one used) is the caller's: verifyCode,
 * or the SQL that consumes the step (src/db/factor-store.ts attemptCharge).
 */
export function matchingSteps(seed: Uint8Array, code: string, cfg: TotpConfig, nowSeconds: number, drift = 0): number[] {
  assertTotpConfig(cfg);
  // Twilio AuthPayload is exactly code_length digits; anything else never reaches the HMAC.
  const given = codeBytes(code, cfg);
  if (!given) return [];
  const centre = timeStepAt(nowSeconds, cfg.timeStep) + drift;
  const out: number[] = [];
  for (let step = centre - cfg.skew; step <= centre + cfg.skew; step++) {
    if (step < 0) continue;
    if (codesEqual(stepCode(seed, cfg, step), given)) out.push(step);
  }
  return out;
}

/**
 * Checks `code` against the window (matchingSteps) and rejects any step ≤ lastUsedTimeStep (§5.2:
 * "the verifier MUST NOT accept the second attempt of the same OTP"). `delta` is the accepted
 * step's offset from the centre. The caller must still persist the returned timeStep atomically
 * (`... where lastUsedTimeStep < :step`) so two racing requests cannot both win.
 */
export function verifyCode(
  seed: Uint8Array,
  code: string,
  cfg: TotpConfig,
  nowSeconds: number,
  lastUsedTimeStep?: bigint | number | null,
  drift = 0,
): VerifyResult {
  assertTotpConfig(cfg);
  if (!codeBytes(code, cfg)) return { valid: false, reason: 'malformed' };
  const last = lastUsedTimeStep === undefined || lastUsedTimeStep === null || lastUsedTimeStep < 0 ? null : Number(lastUsedTimeStep);
  const steps = matchingSteps(seed, code, cfg, nowSeconds, drift);
  // The earliest step after the last one used wins (§5.2: a step ≤ lastUsedTimeStep is a replay).
  const fresh = steps.find((s) => last === null || s > last);
  if (fresh !== undefined) return { valid: true, timeStep: fresh, delta: fresh - (timeStepAt(nowSeconds, cfg.timeStep) + drift) };
  return { valid: false, reason: steps.length > 0 ? 'replayed' : 'mismatch' };
}

// ---------------------------------------------------------------- Key URI

export interface KeyUriInput {
  issuer: string;
  accountName: string;
  secretBase32: string;
  alg: TotpAlgorithm;
  digits: number;
  period: number;
}

/**
 * Google Authenticator Key URI. Written by hand because otplib's generateURI drops default parameters, while
 * Twilio's binding.uri always lists them: label `issuer:account` (literal colon, parts percent-encoded, space =
 * %20), then secret, issuer, algorithm, digits, period in that order (docs/twilio-verify-v2-totp.md §5).
 */
export function buildKeyUri({ issuer, accountName, secretBase32, alg, digits, period }: KeyUriInput): string {
  const enc = encodeURIComponent;
  const label = issuer ? `${enc(issuer)}:${enc(accountName)}` : enc(accountName);
  const query = [
    `secret=${secretBase32}`,
    ...(issuer ? [`issuer=${enc(issuer)}`] : []),
    `algorithm=${alg.toUpperCase()}`,
    `digits=${digits}`,
    `period=${period}`,
  ];
  return `otpauth://totp/${label}?${query.join('&')}`;
}

// ---------------------------------------------------------------- authenticator compatibility

export interface CompatibilityWarning {
  code: 'NON_SHA1_ALGORITHM' | 'NON_STANDARD_DIGITS' | 'NON_STANDARD_PERIOD';
  message: string;
  apps: string[];
}

/**
 * Conservative: the Key URI spec marks algorithm/digits/period as optional and "currently ignored" by Google
 * Authenticator, and several popular apps still silently fall back to SHA1 / 6 digits / 30 s, which yields codes
 * that never verify. A warning means "some apps will show wrong codes", not "invalid".
 */
export function compatibilityWarnings(cfg: TotpConfig): CompatibilityWarning[] {
  const out: CompatibilityWarning[] = [];
  if (cfg.alg !== 'sha1') {
    out.push({
      code: 'NON_SHA1_ALGORITHM',
      message: `Algorithm ${cfg.alg.toUpperCase()} is ignored by several authenticator apps, which then compute SHA1 codes that will not verify; 1Password, Bitwarden and Aegis support it.`,
      apps: ['Google Authenticator (older Android versions)', 'Microsoft Authenticator', 'Authy'],
    });
  }
  if (cfg.codeLength !== 6) {
    out.push({
      code: 'NON_STANDARD_DIGITS',
      message:
        cfg.codeLength === 7 || cfg.codeLength === 8
          ? `${cfg.codeLength}-digit codes are not supported by every app (Authy, 1Password and Bitwarden handle 8); others show 6 digits that will not verify.`
          : `${cfg.codeLength}-digit codes are outside the 6–8 digits RFC 4226 §5.3 requires and almost no authenticator app can display them.`,
      apps: [
        'Google Authenticator (older Android versions)',
        'Microsoft Authenticator',
        ...(cfg.codeLength < 6 ? ['Authy', '1Password', 'Bitwarden'] : []),
      ],
    });
  }
  if (cfg.timeStep !== 30) {
    out.push({
      code: 'NON_STANDARD_PERIOD',
      message: `A ${cfg.timeStep}s time step is ignored by several apps, which then rotate codes every 30s (RFC 6238 §5.2 default) that will not verify.`,
      apps: ['Google Authenticator (older Android versions)', 'Microsoft Authenticator', 'Authy'],
    });
  }
  return out;
}
