// Scenarios a and b: the login hot path, createChallenge with a code. Every right code must be a
// fresh time step for its factor (RFC 6238 §5.2 replay protection would reject a repeat), so the
// client walks a pool of seeded factors round-robin, computing codes the way an authenticator does.
// Factors have skew 2: at step T the server accepts T-2…T+2, so each factor yields T-1…T+2 (four
// codes; T-2 is left as a margin for a step boundary between client and server) and one more per 30 s.
// Wrong codes: at most 4 per factor between right ones, below the throttle's 5 free failures.
import { generateCode, timeStepAt } from '../../src/domain/totp.ts';
import type { SeededFactor } from '../seed.ts';
import type { Req } from '../load.ts';

const CFG = { alg: 'sha1' as const, codeLength: 6, timeStep: 30, skew: 2 };
export const CREATE_CHALLENGE = 'mutation($input: CreateChallengeInput!) { createChallenge(input: $input) { sid status } }';

export class FactorPool {
  private last = new Map<string, number>();
  private wrong = new Map<string, number>();
  private cursor = 0;
  constructor(private readonly factors: SeededFactor[]) {}

  /** A factor and a fresh right code, or null when every factor has used its steps for now. */
  right(): { factorSid: string; code: string; auth?: string } | null {
    const cur = timeStepAt(Date.now() / 1000, CFG.timeStep);
    for (let n = 0; n < this.factors.length; n++) {
      const f = this.factors[this.cursor++ % this.factors.length]!;
      const step = Math.max((this.last.get(f.sid) ?? -Infinity) + 1, cur - 1);
      if (step > cur + CFG.skew) continue;
      this.last.set(f.sid, step);
      this.wrong.set(f.sid, 0);
      return { factorSid: f.sid, code: generateCode(f.seed, CFG, step * CFG.timeStep), auth: f.auth };
    }
    return null;
  }

  /** A factor and a code that is wrong for every step in its window. */
  wrongCode(): { factorSid: string; code: string; auth?: string } | null {
    const now = Date.now() / 1000;
    for (let n = 0; n < this.factors.length; n++) {
      const f = this.factors[this.cursor++ % this.factors.length]!;
      const w = this.wrong.get(f.sid) ?? 0;
      if (w >= 4) continue;
      this.wrong.set(f.sid, w + 1);
      const valid = new Set([-3, -2, -1, 0, 1, 2, 3].map((d) => generateCode(f.seed, CFG, now + d * CFG.timeStep)));
      let code = generateCode(f.seed, CFG, now);
      while (valid.has(code)) code = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      return { factorSid: f.sid, code, auth: f.auth };
    }
    return null;
  }
}

/** `auth`: the main account's credentials, unless the factor belongs to another seeded account. */
export function challengeRequest(auth: string, c: { factorSid: string; code: string; auth?: string } | null): Req | null {
  if (!c) return null;
  return {
    headers: { authorization: c.auth ?? auth },
    body: JSON.stringify({ query: CREATE_CHALLENGE, variables: { input: { factorSid: c.factorSid, authPayload: c.code } } }),
  };
}

export const expectStatus = (status: 'APPROVED' | 'PENDING') => (code: number, body: string) =>
  code === 200 && body.includes(`"status":"${status}"`) && !body.includes('"errors"');
