import type { Factor } from '../generated/prisma/client.ts';
import { SeedUnavailableError } from '../domain/errors.ts';
import { SeedDecryptionError, decryptSeed } from '../domain/seed-crypto.ts';
import { verifyCode, type TotpConfig } from '../domain/totp.ts';
import { observedDrift } from '../domain/resync.ts';
import type { CodeFactor } from '../db/factor-store.ts';
import type { Tenant } from './context.ts';

// The one code check, shared by enrolment (verifyFactor) and challenges: charge → verify →
// consume the step. The caller has charged the attempt already (caps and throttle hold under
// concurrency because the charge is a conditional write made before the code is looked at); the
// code is evaluated here; the step is consumed by the caller's conditional statement, built on
// factor-store's stepUnused/consumeStep (RFC 6238 §5.2: a code is accepted once).
// The window is centred on now + the factor's drift (RFC 6238 §6); the drift this check observed
// goes to `consume` with the step, and is written by the same statement.

export const configOf = (f: Pick<Factor, 'alg' | 'codeLength' | 'timeStep' | 'skew'>): TotpConfig => ({
  alg: f.alg,
  codeLength: f.codeLength,
  timeStep: f.timeStep,
  skew: f.skew,
});

/** The seed, decrypted for one check and wiped by the caller. A wrong key fails loudly: never a wrong code accepted. */
export function factorSeed(t: Tenant, f: Pick<Factor, 'sid' | 'secretKeyId' | 'secretCiphertext'>): Uint8Array {
  try {
    return decryptSeed(t.deps.keyring, f.secretKeyId, f.secretCiphertext, f.sid);
  } catch (e) {
    if (e instanceof SeedDecryptionError) {
      t.deps.logger.error({ factorSid: f.sid, keyId: f.secretKeyId, reason: e.reason }, 'seed decryption failed');
      throw new SeedUnavailableError(f.secretKeyId);
    }
    throw e;
  }
}

export type CodeOutcome<T> =
  /** Wrong, or a step at or before the last one used (verifyCode refuses those, RFC 6238 §5.2). */
  | { kind: 'wrong' }
  /** Right, and `consume` won: the step is used up. */
  | { kind: 'accepted'; value: T }
  /** Right, but `consume` lost (the same code elsewhere, or the target answered meanwhile). */
  | { kind: 'lost' };

/**
 * Checks `code` for an attempt already charged: evaluated against the factor's seed (constant work
 * whatever the code) in the window centred on now + drift, then, if right, `consume(step, drift)`
 * — one conditional statement that takes the step only if it is still unused, and records the
 * drift observed (RFC 6238 §6: a code one step off the centre moves the drift one step, within
 * VERITY_RESYNC_WINDOW_STEPS) — decides. The seed is wiped before anything else happens.
 */
export async function checkChargedCode<T>(
  t: Tenant,
  factor: CodeFactor,
  code: string,
  now: Date,
  consume: (step: bigint, drift: number) => Promise<T | null>,
): Promise<CodeOutcome<T>> {
  const seed = factorSeed(t, factor);
  const nowS = Math.floor(now.getTime() / 1000);
  const result = verifyCode(seed, code, configOf(factor), nowS, factor.lastUsedTimeStep, factor.drift);
  seed.fill(0);
  if (!result.valid) return { kind: 'wrong' };
  const drift = observedDrift(factor.drift, result.delta, t.deps.config.resyncWindowSteps);
  const value = await consume(BigInt(result.timeStep), drift);
  return value === null ? { kind: 'lost' } : { kind: 'accepted', value };
}
