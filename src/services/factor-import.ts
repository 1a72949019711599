import { z } from 'zod';
import type { Service } from '../generated/prisma/client.ts';
import type { AuditActor } from '../domain/audit.ts';
import { FactorLimitReachedError, InvalidArgumentError, VerityError } from '../domain/errors.ts';
import { newSid } from '../domain/sid.ts';
import { encryptSeed, fingerprintSeed } from '../domain/seed-crypto.ts';
import { LIMITS, factorConfigSchema, factorFriendlyNameSchema, identitySchema, parseInput } from '../domain/validation.ts';
import * as store from '../db/factor-store.ts';
import { requireManagement } from '../auth/index.ts';
import type { Deps } from '../deps.ts';
import type { Tenant } from './context.ts';
import { actorOf, recordAuditBatch, type AuditDeps, type AuditInput } from './audit.ts';
import { getService } from './services.ts';
import { importSecret, resolveConfig, type FactorConfigInput } from './factors.ts';

// Bulk import of seeds from another TOTP system (docs/importing.md). Each item is written on its
// own, all or nothing (entity + factor in one transaction, db/factor-store.ts importFactor); one
// bad item never fails the batch. Repeating an item is a no-op: the seed's keyed fingerprint on the
// entity (unique index) finds the factor an earlier run created, without any seed being decrypted.

/** Items per call: bounds one request's work and time (a larger list is INVALID_ARGUMENT, whole). */
export const IMPORT_MAX_ITEMS = 1000;
/** Items written at once: each holds one connection for its short transaction. */
const IMPORT_CONCURRENCY = 4;

export interface ImportItem {
  identity: string;
  secret: string;
  friendlyName: string;
  config?: FactorConfigInput | null;
  /** The factor was in use in the previous system: it can be challenged at once, no enrolment code. */
  verified?: boolean | null;
}

export interface ImportItemError {
  index: number;
  /** A stable code of the error catalogue (src/domain/errors.ts). */
  code: string;
  /** Names the field and the rule; never quotes the secret. */
  message: string;
}

export interface ImportResult {
  /** Items whose factor exists after the call: created now, or already there (a repeated import). */
  imported: number;
  /** Of those, how many this call created. */
  created: number;
  errors: ImportItemError[];
}

/** What importing needs: the command runs it without a whole runtime (no Redis, no queues). */
export interface ImportContext {
  deps: AuditDeps & Pick<Deps, 'keyring' | 'fingerprintKey'>;
  accountSid: string;
  actor: AuditActor;
}

const itemSchema = z.object({
  identity: identitySchema,
  secret: z.string().max(256, 'must be at most 256 characters'),
  friendlyName: factorFriendlyNameSchema,
  config: factorConfigSchema.nullish(),
  verified: z.boolean().nullish(),
});

/**
 * `importTotpFactors`: configuration management, so the account's current auth token only (never
 * an access token, never a token in its rotation grace period: src/auth/management.ts).
 */
export async function importTotpFactors(t: Tenant, input: { serviceSid: string; factors: ImportItem[] }): Promise<ImportResult> {
  requireManagement(t);
  checkImportSize(input.factors.length);
  const service = await getService(t, input.serviceSid);
  return importFactors({ deps: t.deps, accountSid: t.accountSid, actor: actorOf(t) }, service, input.factors);
}

/** More than IMPORT_MAX_ITEMS is refused for the whole call, before anything is written. */
export function checkImportSize(count: number): void {
  if (count > IMPORT_MAX_ITEMS) {
    throw new InvalidArgumentError('factors', `must hold at most ${IMPORT_MAX_ITEMS} items; send larger lists in several calls`);
  }
}

/** Imports `items` into `service` (already checked to be the caller's), each on its own; never throws for one item. */
export async function importFactors(ctx: ImportContext, service: Service, items: readonly unknown[]): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, created: 0, errors: [] };
  const audits: AuditInput[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        const created = await importOne(ctx, service, items[index]);
        result.imported++;
        if (created) {
          result.created++;
          audits.push(created);
        }
      } catch (e) {
        // A rule an item broke is that item's answer; anything else (an outage) fails the call,
        // and repeating it is safe: the items already written are found again, not duplicated.
        if (!(e instanceof VerityError) || e.httpStatus >= 500) throw e;
        result.errors.push({ index, code: e.code, message: e.message });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(IMPORT_CONCURRENCY, items.length) }, worker));
  } finally {
    // After the items' commits, one statement for the lot (not one chain append per factor).
    await recordAuditBatch(ctx.deps, audits);
  }
  result.errors.sort((a, b) => a.index - b.index);
  return result;
}

/** The audit event of the factor this call created; null when it was there already. */
async function importOne(ctx: ImportContext, service: Service, raw: unknown): Promise<AuditInput | null> {
  const item = parseInput(itemSchema, raw);
  // RFC 4226 §4 R6: at least 128-bit secrets. 80-bit legacy seeds are refused like in createTotpFactor.
  const seed = importSecret(item.secret);
  const cfg = resolveConfig(item.config, service);
  const { keyring, fingerprintKey } = ctx.deps;
  const sid = newSid('factor');
  const { keyId, ciphertext } = encryptSeed(keyring, seed, sid);
  // Keyed fingerprint: an equality lookup for "this seed on this entity" with no seed stored in a recoverable form.
  const fingerprint = fingerprintSeed(fingerprintKey, seed);
  seed.fill(0);
  const r = await store.importFactor(ctx.deps.prisma, {
    entity: { sid: newSid('entity'), accountSid: ctx.accountSid, serviceSid: service.sid, identity: item.identity },
    fingerprint,
    limit: LIMITS.factorsPerEntity,
    data: {
      sid,
      friendlyName: item.friendlyName.trim(),
      ...cfg,
      status: item.verified ? 'verified' : 'unverified',
      secretCiphertext: new Uint8Array(ciphertext),
      secretKeyId: keyId,
    },
  });
  if (r.kind === 'limit') throw new FactorLimitReachedError(LIMITS.factorsPerEntity);
  if (r.kind === 'existing') return null;
  const f = r.factor;
  return {
    type: 'factor.imported',
    accountSid: ctx.accountSid,
    actor: ctx.actor,
    serviceSid: f.serviceSid,
    entitySid: f.entitySid,
    factorSid: f.sid,
    details: { identity: f.identity, verified: f.status === 'verified', ...cfg },
  };
}
