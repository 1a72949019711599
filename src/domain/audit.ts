import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

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

export type AuditFailureKind = 'gap' | 'link' | 'content' | 'head' | 'checkpoint';

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
  /** The newest checkpoint: where the chain starts once the rows it covers are purged. */
  private readonly anchor: AuditCheckpointLink | undefined;
  private readonly checkpoints: Map<bigint, string>;

  /** `checkpoints`: the chain's checkpoints whose MAC verified (checkpointMacValid), any order. */
  constructor(
    readonly accountSid: string,
    checkpoints: readonly AuditCheckpointLink[] = [],
  ) {
    this.checkpoints = new Map(checkpoints.map((c) => [c.seq, c.hash]));
    this.anchor = checkpoints.reduce<AuditCheckpointLink | undefined>((a, c) => (a && a.seq >= c.seq ? a : c), undefined);
  }

  push(r: AuditRow): AuditFailure | null {
    const fail = (kind: AuditFailureKind, reason: string): AuditFailure => ({
      accountSid: this.accountSid,
      kind,
      seq: r.seq,
      sid: r.sid,
      reason,
    });
    if (r.accountSid !== this.accountSid) return fail('content', `row belongs to chain ${r.accountSid}`);
    if (this.count === 0 && this.anchor && r.seq > 1n) {
      // The purge deletes covered rows oldest first, so what is left starts either just after the
      // newest checkpoint (linked to its hash) or inside the covered range, whose first row's
      // predecessor is gone: that row is then tied to the checkpoint from above, through the links
      // up to the checkpoint's seq, whose hash must be the signed one.
      if (r.seq === this.anchor.seq + 1n) {
        this.expected = r.seq;
        this.prevHash = this.anchor.hash;
      } else if (r.seq <= this.anchor.seq) {
        this.expected = r.seq;
        this.prevHash = r.prevHash;
      } else this.expected = this.anchor.seq + 1n;
    }
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
    const signed = this.checkpoints.get(r.seq);
    if (signed !== undefined && signed !== r.hash) return fail('checkpoint', `hash does not match the checkpoint at seq ${r.seq}`);
    this.expected = r.seq + 1n;
    this.prevHash = r.hash;
    this.count++;
    return null;
  }

  /** The head must name the last row: a deleted tail leaves the head ahead of the rows. */
  finish(head: { seq: bigint; headHash: string } | null): AuditFailure | null {
    if (this.count === 0 && this.anchor) {
      // Every row up to the checkpoint was purged and none came after: the chain is the checkpoint.
      this.expected = this.anchor.seq + 1n;
      this.prevHash = this.anchor.hash;
    }
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

// ------------------------------------------------------------------ retention checkpoints

/** Where a purged chain now starts: the last deleted event's seq and hash. */
export interface AuditCheckpointLink {
  seq: bigint;
  hash: string;
}

export interface AuditCheckpoint extends AuditCheckpointLink {
  accountSid: string;
  dateCreated: Date;
  mac: string;
}

export const AUDIT_CHECKPOINT_FORMAT = 'verity-audit-checkpoint-v1';

/**
 * The checkpoint MAC key, derived (HKDF, RFC 5869) from the stable fingerprint master so no key
 * serves two purposes; it survives keyring rotation like the master itself.
 */
export function deriveCheckpointKey(fingerprintKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', fingerprintKey, new Uint8Array(0), 'verity-audit-checkpoint', 32));
}

/** The MAC'd text: the format tag and the fields, '|'-separated (none of them can hold a '|'). */
export const checkpointText = (c: Omit<AuditCheckpoint, 'mac'>) =>
  `${AUDIT_CHECKPOINT_FORMAT}|${c.accountSid}|${c.seq}|${c.hash}|${c.dateCreated.toISOString()}`;

/** hex(HMAC-SHA256(key, checkpointText)). */
export const checkpointMac = (key: Uint8Array, c: Omit<AuditCheckpoint, 'mac'>) =>
  createHmac('sha256', key).update(checkpointText(c), 'utf8').digest('hex');

export function checkpointMacValid(key: Uint8Array, c: AuditCheckpoint): boolean {
  const want = Buffer.from(checkpointMac(key, c), 'hex');
  const got = Buffer.from(c.mac, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}
