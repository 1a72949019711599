import { randomFillSync } from 'node:crypto';

/** Twilio SID prefixes (docs/api-contract.md): two letters + 32 lowercase hex. */
export const SID_PREFIX = {
  account: 'AC',
  service: 'VA',
  entity: 'YE',
  factor: 'YF',
  challenge: 'YC',
  webhook: 'YW',
  /** Verity's own (Twilio has no delivery resource). */
  webhookDelivery: 'YD',
  /** Verity's own: one audit trail event. */
  auditEvent: 'AE',
} as const;

export type SidKind = keyof typeof SID_PREFIX;

// SIDs take their 128 random bits from a pool refilled from the CSPRNG 4 KiB at a time, as Node's
// randomUUID does: one OpenSSL call (and its fork check) per 256 SIDs instead of per SID, which
// cost ≈ 5 µs each here and a login creates two. Each pool byte is used once.
const pool = Buffer.alloc(4096);
let offset = pool.length;

export function newSid(kind: SidKind): string {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + 16);
  offset += 16;
  return SID_PREFIX[kind] + hex;
}

const SID_RE = /^[A-Z]{2}[0-9a-fA-F]{32}$/;

/** True when `value` has the shape of a SID of `kind` (Twilio accepts upper- and lowercase hex). */
export function isSid(kind: SidKind, value: string): boolean {
  return SID_RE.test(value) && value.startsWith(SID_PREFIX[kind]);
}

/** SIDs are stored lowercase; accept either case from clients. */
export function normalizeSid(value: string): string {
  return value.slice(0, 2) + value.slice(2).toLowerCase();
}
