import { createHash } from 'node:crypto';

// The audit trail's pure rules: which events exist, the exact bytes that are hashed, and the
// checks an auditor runs over a chain (docs/operations.md "Audit trail" documents the same format so anyone
// can re-implement the verification without our code).

export const AUDIT_EVENT_TYPES = [
  'account.created',
  'account.token_rotated',
  'factor.created',
  'factor.imported',
  'factor.verified',
  'factor.verification_failed',
  'factor.deleted',
  'factor.resynced',
  'factor.resync_failed',
  'challenge.approved',
  'challenge.failed',
  'challenge.throttled',
  'challenge.expired',
  'access_token.issued',
  'entity.recovery_codes.generated',
  'entity.recovery_code.redeemed',
  'entity.recovery_code.failed',
  'entity.recovery_code.throttled',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who acted: the account's own credentials, the operator token, Verity itself (jobs), or an access token. */
export type AuditActor = 'account' | 'operator' | 'system' | `access_token:${string}`;

/** Versions the serialisation: a future format gets a new tag, old rows keep verifying under theirs. */
export const AUDIT_FORMAT = 'verity-audit-v1';

/** prevHash of every chain's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** The hashed fields of one event, as stored. */
export interface AuditContent {
  sid: string;
  accountSid: string;
  type: string;
  serviceSid: string | null;
  entitySid: string | null;
  factorSid: string | null;
  challengeSid: string | null;
  actor: string;
  /** Canonical JSON text, hashed exactly as stored; null for none. */
  details: string | null;
  dateCreated: Date;
}

export interface AuditRow extends AuditContent {
  seq: bigint;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted (recursively) and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * The content serialisation: a JSON array (ECMAScript JSON.stringify, no whitespace) of the format
 * tag and the fields in this fixed order, nulls as null, the time as ISO 8601 UTC with milliseconds,
 * details as the stored text (a JSON string inside the array). Arrays of strings and nulls have
 * exactly one such text, so the serialisation is unambiguous.
 */
export function auditContentText(c: AuditContent): string {
  return JSON.stringify([
    AUDIT_FORMAT,
    c.sid,
    c.accountSid,
    c.type,
    c.serviceSid,
    c.entitySid,
    c.factorSid,
    c.challengeSid,
    c.actor,
    c.dateCreated.toISOString(),
    c.details,
  ]);
}

export const auditContentHash = (c: AuditContent) => sha256Hex(auditContentText(c));

/**
 * hash = hex(SHA-256(ASCII "verity-audit-v1|<seq>|<prevHash>|<contentHash>")). The database
 * computes the same expression when it appends (src/db/audit-store.ts), because only it knows seq and
 * prevHash at the moment the chain head is locked.
 */
export const auditLinkHash = (seq: bigint, prevHash: string, contentHash: string) =>
  sha256Hex(`${AUDIT_FORMAT}|${seq}|${prevHash}|${contentHash}`);

export const auditRowHash = (r: AuditContent & { seq: bigint; prevHash: string }) => auditLinkHash(r.seq, r.prevHash, auditContentHash(r));

export type AuditFailureKind = 'gap' | 'link' | 'content' | 'head';

export interface AuditFailure {
  accountSid: string;
  kind: AuditFailureKind;
  /** The row where the chain stops verifying (for a truncated tail: the first missing seq). */
  seq: bigint | null;
  sid: string | null;
  reason: string;
}

/**
 * Walks one chain in seq order. push() each row; finish() with the chain head. The first failure
 * is returned and the walk should stop there: everything after it is unverifiable anyway.
 */
export class AuditChainVerifier {
  private expected = 1n;
  private prevHash = GENESIS_HASH;
  count = 0;

  constructor(readonly accountSid: string) {}

  push(r: AuditRow): AuditFailure | null {
    const fail = (kind: AuditFailureKind, reason: string): AuditFailure => ({
      accountSid: this.accountSid,
      kind,
      seq: r.seq,
      sid: r.sid,
      reason,
    });
    if (r.accountSid !== this.accountSid) return fail('content', `row belongs to chain ${r.accountSid}`);
    if (r.seq !== this.expected) {
      return fail(
        'gap',
        r.seq > this.expected
          ? `seq ${this.expected}${r.seq - 1n > this.expected ? `–${r.seq - 1n}` : ''} is missing (row deleted)`
          : `seq ${r.seq} out of order (expected ${this.expected})`,
      );
    }
    if (r.prevHash !== this.prevHash) {
      return fail(
        'link',
        r.seq === 1n
          ? 'prevHash is not the genesis value'
          : `prevHash does not match the hash of seq ${r.seq - 1n} (seq ${r.seq - 1n} was rewritten, or this link was)`,
      );
    }
    if (auditRowHash(r) !== r.hash) return fail('content', 'hash does not match the row’s fields (the row was changed)');
    this.expected = r.seq + 1n;
    this.prevHash = r.hash;
    this.count++;
    return null;
  }

  /** The head must name the last row: a deleted tail leaves the head ahead of the rows. */
  finish(head: { seq: bigint; headHash: string } | null): AuditFailure | null {
    const last = this.expected - 1n;
    const fail = (reason: string, seq: bigint | null): AuditFailure => ({
      accountSid: this.accountSid,
      kind: 'head',
      seq,
      sid: null,
      reason,
    });
    if (!head) return last > 0n ? fail('the chain head row is missing', last) : null;
    if (head.seq > last) return fail(`truncated: the chain head records seq ${head.seq} but the last row is seq ${last}`, last + 1n);
    if (head.seq < last) return fail(`the chain head records seq ${head.seq} but rows go up to seq ${last}`, head.seq + 1n);
    if (head.headHash !== this.prevHash) return fail(`the chain head hash does not match seq ${last}`, last);
    return null;
  }
}
