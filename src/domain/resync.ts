// RFC 6238 §6, resynchronisation: a device whose clock drifted beyond the delay window is found
// again by two consecutive codes, and the offset ("drift", in time steps) is recorded so later
// checks are centred on now + drift. Pure: time and the window come in as arguments.
import { assertTotpConfig, codeBytes, codesEqual, stepCode, timeStepAt, type TotpConfig } from './totp.ts';

/** Bounds of VERITY_RESYNC_WINDOW_STEPS (default 100: ±50 min at 30 s steps, RFC 6238 §6's "larger window"). */
export const RESYNC_WINDOW = { min: 1, max: 1000, default: 100 } as const;

export type ResyncMatch =
  /** `step` and `step + 1` matched the two codes in order; `drift` = step − T (now's step). */
  | { found: true; step: number; drift: number }
  /** malformed: a code is not code_length digits; mismatch: no consecutive pair in the window; replayed: the only pair is at or before the last used step (§5.2). */
  | { found: false; reason: 'malformed' | 'mismatch' | 'replayed' };

/**
 * Searches T−window…T+window for a step t whose code is `first` while t+1's is `second`. Every
 * step's code is computed and compared with both codes whatever matches, through totp.ts's
 * constant-time comparison (codesEqual), so the work does not depend on where (or whether) the pair is.
 * A pair must lie after `lastUsedTimeStep` (§5.2: used codes stay used). Of several pairs (a
 * coincidence at short code lengths) the one nearest now wins.
 */
export function findConsecutivePair(
  seed: Uint8Array,
  codes: readonly [string, string],
  cfg: TotpConfig,
  nowSeconds: number,
  windowSteps: number,
  lastUsedTimeStep?: bigint | number | null,
): ResyncMatch {
  assertTotpConfig(cfg);
  if (!Number.isInteger(windowSteps) || windowSteps < 0) throw new RangeError('windowSteps must be a non-negative integer');
  const first = codeBytes(codes[0], cfg);
  const second = codeBytes(codes[1], cfg);
  if (!first || !second) return { found: false, reason: 'malformed' };
  const last = lastUsedTimeStep === undefined || lastUsedTimeStep === null || lastUsedTimeStep < 0 ? null : Number(lastUsedTimeStep);
  const now = timeStepAt(nowSeconds, cfg.timeStep);
  const from = Math.max(0, now - windowSteps);
  // matchesFirst[i] / matchesSecond[i]: step from+i shows the first / second code.
  const matchesFirst: boolean[] = [];
  const matchesSecond: boolean[] = [];
  for (let step = from; step <= now + windowSteps + 1; step++) {
    const expected = stepCode(seed, cfg, step);
    matchesFirst.push(codesEqual(expected, first));
    matchesSecond.push(codesEqual(expected, second));
  }
  let best: number | null = null;
  let replayed = false;
  for (let step = from; step <= now + windowSteps; step++) {
    const i = step - from;
    if (!matchesFirst[i] || !matchesSecond[i + 1]) continue;
    if (last !== null && step <= last) {
      replayed = true;
      continue;
    }
    if (best === null || Math.abs(step - now) < Math.abs(best - now)) best = step;
  }
  if (best !== null) return { found: true, step: best, drift: best - now };
  return { found: false, reason: replayed ? 'replayed' : 'mismatch' };
}

/**
 * RFC 6238 §6 "record the drift" on an ordinary check: a code accepted `delta` steps off the
 * centre moves the drift one step that way (at most one step per accepted code, so one late
 * typist cannot swing it by the whole skew), bounded by the resync window. A device drifting
 * slowly thus stays inside a skew-1 window.
 */
export function observedDrift(drift: number, delta: number, windowSteps: number): number {
  const next = drift + Math.sign(delta);
  return Math.max(-windowSteps, Math.min(windowSteps, next));
}
