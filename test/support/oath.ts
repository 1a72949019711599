import { execFileSync } from 'node:child_process';

/**
 * A TOTP code from Debian's oathtool — an implementation independent of ours — for `unixSeconds`.
 * oathtool prints 6–8 digits; shorter codes are the low digits of the 8-digit one (RFC 4226 §5.3).
 */
export function oathCode(secretBase32: string, cfg: { alg?: string; codeLength?: number; timeStep?: number }, unixSeconds: number): string {
  const digits = cfg.codeLength ?? 6;
  const out = execFileSync('oathtool', [
    `--totp=${(cfg.alg ?? 'sha1').toLowerCase()}`,
    '-b',
    '-d',
    String(Math.max(6, digits)),
    '-s',
    `${cfg.timeStep ?? 30}s`,
    '-N',
    `@${Math.floor(unixSeconds)}`,
    secretBase32,
  ])
    .toString()
    .trim();
  return digits >= 6 ? out : out.slice(-digits);
}

export const unix = (d: Date) => Math.floor(d.getTime() / 1000);
