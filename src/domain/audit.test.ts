import { describe, expect, it } from 'vitest';
import {
  AuditChainVerifier,
  GENESIS_HASH,
  auditContentHash,
  auditContentText,
  auditLinkHash,
  auditRowHash,
  canonicalJson,
  checkpointMac,
  checkpointMacValid,
  deriveCheckpointKey,
  type AuditCheckpointLink,
  type AuditContent,
  type AuditRow,
} from './audit.ts';

// Known answers computed with Python's hashlib/json from docs/operations.md's description alone (an
// independent re-implementation of the format, as an auditor would write it).
const event: AuditContent = {
  sid: 'AE00000000000000000000000000000001',
  accountSid: 'AC' + 'a'.repeat(32),
  type: 'factor.verified',
  serviceSid: 'VA' + 'b'.repeat(32),
  entitySid: 'YE' + 'c'.repeat(32),
  factorSid: 'YF' + 'd'.repeat(32),
  challengeSid: null,
  actor: 'account',
  details: canonicalJson({ note: 'é ✓', identity: 'alice-0001' }),
  dateCreated: new Date('2026-11-30T12:00:00.123Z'),
};

describe('the audit hash format', () => {
  it('serialises canonically: sorted keys, no whitespace, details as a JSON string inside the array', () => {
    expect(event.details).toBe('{"identity":"alice-0001","note":"é ✓"}');
    expect(canonicalJson({ b: [{ z: 1, a: 2 }], a: null })).toBe('{"a":null,"b":[{"a":2,"z":1}]}');
    expect(auditContentText(event)).toBe(
      '["verity-audit-v1","AE00000000000000000000000000000001","ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","factor.verified",' +
        '"VAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","YEcccccccccccccccccccccccccccccccc","YFdddddddddddddddddddddddddddddddd",null,"account",' +
        '"2026-11-30T12:00:00.123Z","{\\"identity\\":\\"alice-0001\\",\\"note\\":\\"é ✓\\"}"]',
    );
  });

  it('matches the independently computed hashes', () => {
    const ch = auditContentHash(event);
    expect(ch).toBe('4b581ee79b43de29100d1e677e08283e86900916e452ff83814240f5843e1fc8');
    const h1 = auditLinkHash(1n, GENESIS_HASH, ch);
    expect(h1).toBe('9fb9f5a47c2ddc0296a9a434800adecc8bc1467e07bd3294c72bb84506cf9031');
    expect(auditLinkHash(2n, h1, ch)).toBe('473e129e2d6582e8efb38d8c5daa9caa03a6f71009877421ec957b3b8b0183b1');
  });

  it('changes with every field', () => {
    const base = auditContentHash(event);
    const variants: Partial<AuditContent>[] = [
      { sid: 'AE00000000000000000000000000000002' },
      { accountSid: 'AC' + 'e'.repeat(32) },
      { type: 'factor.deleted' },
      { serviceSid: null },
      { entitySid: null },
      { factorSid: null },
      { challengeSid: 'YC' + 'f'.repeat(32) },
      { actor: 'operator' },
      { details: null },
      { details: '{}' },
      { dateCreated: new Date('2026-11-30T12:00:00.124Z') },
    ];
    for (const v of variants) expect(auditContentHash({ ...event, ...v })).not.toBe(base);
    // Moving text between adjacent fields cannot produce the same serialisation.
    expect(auditContentText({ ...event, actor: 'acc', details: 'ount' })).not.toBe(
      auditContentText({ ...event, actor: 'account', details: '' }),
    );
  });
});

function chain(n: number): AuditRow[] {
  const rows: AuditRow[] = [];
  let prev = GENESIS_HASH;
  for (let i = 1; i <= n; i++) {
    const c = { ...event, sid: `AE${String(i).padStart(32, '0')}` };
    const row = { ...c, seq: BigInt(i), prevHash: prev, hash: '' };
    row.hash = auditRowHash(row);
    prev = row.hash;
    rows.push(row);
  }
  return rows;
}

const run = (rows: AuditRow[], head: { seq: bigint; headHash: string } | null, checkpoints: AuditCheckpointLink[] = []) => {
  const v = new AuditChainVerifier(event.accountSid, checkpoints);
  for (const r of rows) {
    const f = v.push(r);
    if (f) return f;
  }
  return v.finish(head);
};

describe('AuditChainVerifier', () => {
  const rows = chain(5);
  const head = { seq: 5n, headHash: rows[4]!.hash };

  it('accepts an intact chain, and an empty one without a head', () => {
    expect(run(rows, head)).toBeNull();
    expect(run([], null)).toBeNull();
  });

  it('names the first row that does not verify', () => {
    const changed = rows.map((r, i) => (i === 2 ? { ...r, details: '{"identity":"mallory-01"}' } : r));
    expect(run(changed, head)).toMatchObject({ kind: 'content', seq: 3n, sid: rows[2]!.sid });
    expect(
      run(
        rows.filter((_, i) => i !== 1),
        head,
      ),
    ).toMatchObject({ kind: 'gap', seq: 3n, reason: expect.stringMatching(/seq 2 is missing/) });
    const rehashed = rows.map((r) => ({ ...r }));
    rehashed[1]!.type = 'factor.created';
    rehashed[1]!.hash = auditRowHash(rehashed[1]!);
    expect(run(rehashed, head)).toMatchObject({ kind: 'link', seq: 3n, reason: expect.stringMatching(/hash of seq 2/) });
    expect(run(rows.slice(0, 3), head)).toMatchObject({ kind: 'head', seq: 4n, reason: expect.stringMatching(/truncated/) });
    expect(run(rows, null)).toMatchObject({ kind: 'head', reason: expect.stringMatching(/missing/) });
    expect(run(rows, { ...head, headHash: GENESIS_HASH })).toMatchObject({ kind: 'head', seq: 5n });
  });
});

describe('AuditChainVerifier from a retention checkpoint', () => {
  const rows = chain(8);
  const head = { seq: 8n, headHash: rows[7]!.hash };
  const cp = { seq: 5n, hash: rows[4]!.hash };
  const from = (seq: number) => rows.filter((r) => r.seq >= BigInt(seq));

  it('accepts a chain purged up to the checkpoint, a purge under way, and a chain that is only its checkpoint', () => {
    expect(run(from(6), head, [cp])).toBeNull();
    expect(run(from(3), head, [cp])).toBeNull(); // rows 3–5 still to purge: linked up to the checkpoint
    expect(run([], head, [{ seq: 8n, hash: head.headHash }])).toBeNull();
    expect(run(from(6), head, [{ seq: 2n, hash: rows[1]!.hash }, cp])).toBeNull(); // the newest checkpoint anchors
  });

  it('catches rows deleted without a checkpoint, beyond it, or a broken link to it', () => {
    expect(run(from(6), head)).toMatchObject({ kind: 'gap', seq: 6n, reason: expect.stringMatching(/seq 1–5 is missing/) });
    expect(run(from(7), head, [cp])).toMatchObject({ kind: 'gap', seq: 7n, reason: expect.stringMatching(/seq 6 is missing/) });
    const relinked = from(6).map((r) => ({ ...r }));
    relinked[0]!.prevHash = rows[3]!.hash;
    relinked[0]!.hash = auditRowHash(relinked[0]!);
    expect(run(relinked, head, [cp])).toMatchObject({ kind: 'link', seq: 6n });
  });

  it('catches a change in the covered rows still stored, even re-hashed up to the checkpoint', () => {
    const changed = from(3).map((r) => (r.seq === 4n ? { ...r, actor: 'operator' } : r));
    expect(run(changed, head, [cp])).toMatchObject({ kind: 'content', seq: 4n });
    // Rewritten from 4 to 5 with valid links: the row at the checkpoint no longer has the signed hash.
    const rewritten = from(3).map((r) => ({ ...r }));
    for (const r of rewritten.filter((x) => x.seq >= 4n && x.seq <= 5n)) {
      if (r.seq === 4n) r.actor = 'operator';
      r.prevHash = rewritten.find((x) => x.seq === r.seq - 1n)!.hash;
      r.hash = auditRowHash(r);
    }
    expect(run(rewritten, head, [cp])).toMatchObject({ kind: 'checkpoint', seq: 5n });
  });

  it('signs a checkpoint under a key of its own: another key, or any changed field, does not verify', () => {
    const master = new Uint8Array(32).fill(7);
    const key = deriveCheckpointKey(master);
    expect(Buffer.from(key).equals(Buffer.from(master))).toBe(false);
    const c = { accountSid: event.accountSid, seq: 5n, hash: cp.hash, dateCreated: new Date('2026-12-05T06:00:00.000Z') };
    const signed = { ...c, mac: checkpointMac(key, c) };
    expect(checkpointMacValid(key, signed)).toBe(true);
    expect(checkpointMacValid(deriveCheckpointKey(new Uint8Array(32).fill(8)), signed)).toBe(false);
    expect(checkpointMacValid(key, { ...signed, seq: 6n })).toBe(false);
    expect(checkpointMacValid(key, { ...signed, hash: rows[5]!.hash })).toBe(false);
    expect(checkpointMacValid(key, { ...signed, dateCreated: new Date('2026-12-05T06:00:00.001Z') })).toBe(false);
    expect(checkpointMacValid(key, { ...signed, mac: 'ab' })).toBe(false);
  });
});
